-- SPDX-License-Identifier: MIT
-- wrk script: POST a batch of BATCH_EVENTS (default 100) valid events, each the event of
-- bench/post.lua, on every request.
-- Usage: BATCH_EVENTS=100 wrk -t1 -c8 -d10s --latency -s bench/post_batch.lua \
--            http://127.0.0.1:3000/api/v1/activities/batch
-- No "id" fields, so the API assigns a fresh UUIDv7 to every event.
local n = tonumber(os.getenv("BATCH_EVENTS") or "100")
local event = '{"userId":"user-00042","eventType":"page_view",'
    .. '"timestamp":"2024-05-01T12:00:00.000Z",'
    .. '"payload":{"page":"/products/42","referrer":"https://www.example.com/search?q=shoes",'
    .. '"sessionId":"5f0c2a7e-3b1d-4c8e-9a6f-1e2d3c4b5a69","durationMs":1234,"depth":9}}'
local events = {}
for i = 1, n do
    events[i] = event
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"events":[' .. table.concat(events, ",") .. ']}'
