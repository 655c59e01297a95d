#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A second opinion on wrk's latency percentiles for the 202 path (docs/BENCHMARKS.md).

Keeps CONNECTIONS keep-alive HTTP/1.1 connections to 127.0.0.1:PORT busy with bench/post.lua's
POST for SECONDS, one request in flight per connection, as `wrk -t1 -cN` does, and prints the
throughput and latency percentiles measured with a monotonic clock from each send to the end of
its response. Python is slower than wrk per request, so compare percentiles at a similar
throughput, not the throughput itself.

Usage: bench/latency.py [-c CONNECTIONS] [-d SECONDS] [-p PORT]   (defaults 64, 10, 3100)
Loopback only, bounded in time; prints one line:
  requests=… rps=… p50_ms=… p90_ms=… p99_ms=… p99.9_ms=… max_ms=… non202=…
"""
import argparse
import selectors
import socket
import sys
import time

BODY = (b'{"userId":"user-00042","eventType":"page_view",'
        b'"timestamp":"2024-05-01T12:00:00.000Z",'
        b'"payload":{"page":"/products/42","referrer":"https://www.example.com/search?q=shoes",'
        b'"sessionId":"5f0c2a7e-3b1d-4c8e-9a6f-1e2d3c4b5a69","durationMs":1234,"depth":9}}')
REQUEST = (b"POST /api/v1/activities HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY))


def response_length(buf):
    """Bytes of the first complete response in buf, or 0 while it is incomplete."""
    head, sep, _ = buf.partition(b"\r\n\r\n")
    if not sep:
        return 0
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    total = len(head) + 4 + length
    return total if len(buf) >= total else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-c", type=int, default=64, help="connections (default 64)")
    ap.add_argument("-d", type=float, default=10, help="seconds (default 10)")
    ap.add_argument("-p", type=int, default=3100, help="port on 127.0.0.1 (default 3100)")
    args = ap.parse_args()
    if not 1 <= args.c <= 1024 or not 0 < args.d <= 600:
        ap.error("1 <= -c <= 1024 and 0 < -d <= 600")

    sel = selectors.DefaultSelector()
    conns = {}
    latencies = []
    non202 = 0
    for _ in range(args.c):
        s = socket.create_connection(("127.0.0.1", args.p), timeout=5)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        conns[s] = [time.perf_counter(), b""]
        s.sendall(REQUEST)
    start = time.perf_counter()
    end = start + args.d
    while time.perf_counter() < end:
        for key, _ in sel.select(0.1):
            s = key.fileobj
            data = s.recv(65536)
            if not data:
                sys.exit("bench/latency.py: the server closed a connection")
            state = conns[s]
            state[1] += data
            n = response_length(state[1])
            if n:
                now = time.perf_counter()
                latencies.append((now - state[0]) * 1000)
                if not state[1].startswith(b"HTTP/1.1 202"):
                    non202 += 1
                state[0], state[1] = now, state[1][n:]
                s.sendall(REQUEST)
    elapsed = time.perf_counter() - start
    latencies.sort()
    n = len(latencies)
    if n == 0:
        sys.exit("bench/latency.py: no response")

    def pct(p):
        return latencies[min(n - 1, int(n * p / 100))]

    print("requests=%d rps=%.0f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f p99.9_ms=%.2f max_ms=%.2f "
          "non202=%d" % (n, n / elapsed, pct(50), pct(90), pct(99), pct(99.9), latencies[-1],
                         non202))


if __name__ == "__main__":
    main()
