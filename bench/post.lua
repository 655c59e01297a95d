-- SPDX-License-Identifier: MIT
-- wrk script: POST a valid activity event (251 bytes of JSON) on every request.
-- Usage: wrk -t1 -c64 -d10s --latency -s bench/post.lua http://127.0.0.1:3000/api/v1/activities
-- No "id" field, so the API assigns a fresh UUIDv7 to every event.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"userId":"user-00042","eventType":"page_view",'
    .. '"timestamp":"2024-05-01T12:00:00.000Z",'
    .. '"payload":{"page":"/products/42","referrer":"https://www.example.com/search?q=shoes",'
    .. '"sessionId":"5f0c2a7e-3b1d-4c8e-9a6f-1e2d3c4b5a69","durationMs":1234,"depth":9}}'
