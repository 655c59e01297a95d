#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Sends N requests of one kind to activity-api, one after the other on one keep-alive
connection, and checks every status: the fixed load of bench/cost.sh.

Usage: bench/cost_client.py PORT KIND N
  KIND  valid    bench/post.lua's event to /api/v1/activities (202; or 429 once the limit is hit)
        invalid  bench/post_invalid.lua's body (400)
        batch    bench/post_batch.lua's batch of BATCH_EVENTS (default 100) events (202)
The bodies are read from those wrk scripts, so both tools send the same bytes. Prints
"sent=N statuses={...}" and exits 1 when a status other than the kind's own (and 429 for
valid) came back."""

import http.client
import os
import re
import sys

BENCH = os.path.dirname(os.path.abspath(__file__))


def lua_strings(name, var):
    """The concatenated single-quoted literals assigned to var in bench/<name>."""
    text = open(os.path.join(BENCH, name), encoding="utf-8").read()
    m = re.search(r"^" + re.escape(var) + r" = (.*?)\n(?!\s+\.\.)", text, re.S | re.M)
    if not m:
        sys.exit(f"cost_client.py: no '{var} = ...' in bench/{name}")
    return "".join(re.findall(r"'([^']*)'", m.group(1)))


def request(kind):
    if kind == "valid":
        return "/api/v1/activities", lua_strings("post.lua", "wrk.body"), {202, 429}
    if kind == "invalid":
        return "/api/v1/activities", lua_strings("post_invalid.lua", "wrk.body"), {400}
    if kind == "batch":
        event = lua_strings("post_batch.lua", "local event")
        n = int(os.environ.get("BATCH_EVENTS", "100"))
        return "/api/v1/activities/batch", '{"events":[' + ",".join([event] * n) + "]}", {202}
    sys.exit(f"cost_client.py: unknown kind '{kind}' (valid, invalid, batch)")


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    port, kind, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    path, body, allowed = request(kind)
    data = body.encode()
    headers = {"Content-Type": "application/json"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    statuses = {}
    for _ in range(n):
        conn.request("POST", path, data, headers)
        resp = conn.getresponse()
        resp.read()
        statuses[resp.status] = statuses.get(resp.status, 0) + 1
    conn.close()
    print(f"sent={n} statuses={dict(sorted(statuses.items()))}")
    if set(statuses) - allowed:
        sys.exit(1)


if __name__ == "__main__":
    main()
