-- SPDX-License-Identifier: MIT
-- wrk script: POST an event of the same size as post.lua's that fails validation, so every
-- request is parsed, validated in full and answered 400 with a problem+json body naming two
-- fields: eventType is empty and the timestamp has no offset (ambiguous, rejected).
-- Usage: wrk -t1 -c64 -d10s --latency -s bench/post_invalid.lua http://127.0.0.1:3000/api/v1/activities
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"userId":"user-00042","eventType":"",'
    .. '"timestamp":"2024-05-01T12:00:00.000",'
    .. '"payload":{"page":"/products/42","referrer":"https://www.example.com/search?q=shoes",'
    .. '"sessionId":"5f0c2a7e-3b1d-4c8e-9a6f-1e2d3c4b5a69","durationMs":1234,"depth":9,"xyz":123}}'
