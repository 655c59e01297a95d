"""Rate limiting of POST /api/v1/activities, keyed by the TCP peer address: each test sends from
its own 127.0.0.x source addresses, so tests do not share a budget."""

import re
import time
import unittest

import harness
from harness import ApiTestCase, new_activity, next_source_address

POLICY_RE = re.compile(r'^"(?P<name>[^"]+)";q=(?P<q>\d+);w=(?P<w>\d+)$')
RATELIMIT_RE = re.compile(r'^"(?P<name>[^"]+)";r=(?P<r>\d+);t=(?P<t>\d+)$')


class RateLimitHeadersMixin:
    def ratelimit(self, resp, limit, window_s):
        """Checks both RateLimit header fields of resp; returns (remaining, reset seconds)."""
        policy = resp.header("RateLimit-Policy")
        self.assertIsNotNone(policy, f"no RateLimit-Policy on {resp}")
        m = POLICY_RE.match(policy.strip())
        self.assertIsNotNone(m, f"RateLimit-Policy {policy!r}")
        self.assertEqual(m["name"], "ip")
        self.assertEqual(int(m["q"]), limit)
        self.assertEqual(int(m["w"]), window_s)
        value = resp.header("RateLimit")
        self.assertIsNotNone(value, f"no RateLimit on {resp}")
        m = RATELIMIT_RE.match(value.strip())
        self.assertIsNotNone(m, f"RateLimit {value!r}")
        self.assertEqual(m["name"], "ip")
        remaining, reset = int(m["r"]), int(m["t"])
        self.assertLessEqual(remaining, limit)
        self.assertLessEqual(reset, window_s)
        return remaining, reset


class RateLimitDefaultPolicy(RateLimitHeadersMixin, ApiTestCase):
    API_ENV = {"RATE_LIMIT_MAX_REQUESTS": "50", "RATE_LIMIT_WINDOW_MS": "60000"}
    LIMIT, WINDOW_S = 50, 60

    def tearDown(self):
        harness.read_messages(self.api.queue, count=10**6, timeout=0.3)

    def test_ratelimit_51st_request_is_429(self):
        src = next_source_address()
        start = time.monotonic()
        for i in range(self.LIMIT):
            resp = self.api.post(new_activity(), source=src)
            self.assertAccepted(resp)
            self.assertMatchesOpenAPI(resp, "/api/v1/activities", "post")
            remaining, _ = self.ratelimit(resp, self.LIMIT, self.WINDOW_S)
            self.assertEqual(remaining, self.LIMIT - 1 - i, f"request {i + 1}: {resp}")
        resp = self.api.post(new_activity(), source=src)
        elapsed = time.monotonic() - start
        body = self.assertProblem(resp, 429)
        self.assertMatchesOpenAPI(resp, "/api/v1/activities", "post")
        self.assertIsInstance(body.get("detail"), str)
        retry = self.assertRetryAfter(resp, low=1, high=self.WINDOW_S)
        # The first request leaves the window WINDOW_S after it was let through.
        self.assertGreaterEqual(retry, int(self.WINDOW_S - elapsed) - 1, resp)
        remaining, reset = self.ratelimit(resp, self.LIMIT, self.WINDOW_S)
        self.assertEqual(remaining, 0, resp)
        self.assertGreaterEqual(reset, 1, resp)

        # Further attempts stay refused; every accepted event was queued exactly once.
        for _ in range(5):
            self.assertProblem(self.api.post(new_activity(), source=src), 429)
        got = harness.read_messages(self.api.queue, count=self.LIMIT, timeout=15, settle=0.5)
        self.assertEqual(len(got), self.LIMIT)

    def test_ratelimit_other_source_is_unaffected(self):
        src, other = next_source_address(), next_source_address()
        for _ in range(self.LIMIT):
            self.assertAccepted(self.api.post(new_activity(), source=src))
        self.assertProblem(self.api.post(new_activity(), source=src), 429)
        resp = self.api.post(new_activity(), source=other)
        self.assertAccepted(resp)
        self.assertEqual(self.ratelimit(resp, self.LIMIT, self.WINDOW_S)[0], self.LIMIT - 1)

    def test_ratelimit_invalid_requests_count(self):
        src = next_source_address()
        for i in range(10):
            resp = self.api.post({"userId": ""}, source=src)
            self.assertProblem(resp, 400)
            self.assertEqual(self.ratelimit(resp, self.LIMIT, self.WINDOW_S)[0], self.LIMIT - 1 - i)
        for _ in range(self.LIMIT - 10):
            self.assertAccepted(self.api.post(new_activity(), source=src))
        self.assertProblem(self.api.post(new_activity(), source=src), 429)

    def test_ratelimit_headers_on_415(self):
        src = next_source_address()
        resp = self.api.post("x", content_type="text/plain", source=src)
        self.assertProblem(resp, 415)
        self.assertMatchesOpenAPI(resp, "/api/v1/activities", "post")
        self.ratelimit(resp, self.LIMIT, self.WINDOW_S)

    def test_ratelimit_forwarded_for_from_untrusted_peer_is_ignored(self):
        src = next_source_address()
        for i in range(self.LIMIT):
            resp = self.api.post(new_activity(), source=src,
                                 headers={"X-Forwarded-For": f"203.0.113.{i + 1}"})
            self.assertAccepted(resp)
        for spoof in ("198.51.100.7", "198.51.100.8, 203.0.113.200", "::1"):
            with self.subTest(spoof):
                resp = self.api.post(new_activity(), source=src, headers={"X-Forwarded-For": spoof})
                self.assertProblem(resp, 429)

    def test_ratelimit_operational_endpoints_are_not_limited(self):
        src = next_source_address()
        for _ in range(self.LIMIT):
            self.assertAccepted(self.api.post(new_activity(), source=src))
        self.assertProblem(self.api.post(new_activity(), source=src), 429)
        for path in ("/health", "/ready", "/metrics"):
            with self.subTest(path):
                self.assertEqual(self.api.get(path, source=src).status, 200)
        metrics = self.api.get("/metrics").body.decode()
        m = re.search(r"^activity_api_rate_limited_total (\d+)", metrics, re.M)
        self.assertIsNotNone(m, metrics)
        self.assertGreaterEqual(int(m[1]), 1)


class RateLimitSlidingWindow(RateLimitHeadersMixin, ApiTestCase):
    """A short window, to watch requests leave it."""

    LIMIT, WINDOW_MS = 5, 3000
    API_ENV = {"RATE_LIMIT_MAX_REQUESTS": str(LIMIT), "RATE_LIMIT_WINDOW_MS": str(WINDOW_MS)}

    def tearDown(self):
        harness.read_messages(self.api.queue, count=10**6, timeout=0.3)

    def test_ratelimit_refused_requests_do_not_count(self):
        src = next_source_address()
        t0 = time.monotonic()
        for _ in range(self.LIMIT):
            self.assertAccepted(self.api.post(new_activity(), source=src))
        t_last = time.monotonic()
        # Keep knocking during the window: these 429s must not extend it.
        while time.monotonic() - t0 < self.WINDOW_MS / 1000 * 0.6:
            resp = self.api.post(new_activity(), source=src)
            self.assertProblem(resp, 429)
            self.assertRetryAfter(resp, low=1, high=self.WINDOW_MS // 1000)
            time.sleep(0.1)
        # Once the first LIMIT requests have left the window, LIMIT more are let through.
        time.sleep(max(0.0, t_last + self.WINDOW_MS / 1000 + 0.3 - time.monotonic()))
        for _ in range(self.LIMIT):
            self.assertAccepted(self.api.post(new_activity(), source=src))
        self.assertProblem(self.api.post(new_activity(), source=src), 429)

    def test_ratelimit_window_slides(self):
        # 3 requests at t=0, 2 at t~1.5 s: at t~3.2 s the first 3 have left the window but the
        # other 2 have not, so exactly 3 more are let through.
        src = next_source_address()
        for _ in range(3):
            self.assertAccepted(self.api.post(new_activity(), source=src))
        t_first = time.monotonic()
        time.sleep(1.5)
        for _ in range(2):
            self.assertAccepted(self.api.post(new_activity(), source=src))
        t_second = time.monotonic()
        resp = self.api.post(new_activity(), source=src)
        self.assertProblem(resp, 429)
        time.sleep(max(0.0, t_first + self.WINDOW_MS / 1000 + 0.3 - time.monotonic()))
        self.assertLess(time.monotonic(), t_second + self.WINDOW_MS / 1000 - 0.3,
                        "the test machine is too slow for this timing")
        for _ in range(3):
            self.assertAccepted(self.api.post(new_activity(), source=src))
        resp = self.api.post(new_activity(), source=src)
        self.assertProblem(resp, 429)
        self.assertRetryAfter(resp, low=1, high=self.WINDOW_MS // 1000)


class RateLimitTrustedProxy(RateLimitHeadersMixin, ApiTestCase):
    """With TRUST_PROXY_CIDRS, the right-most untrusted X-Forwarded-For address is the key."""

    LIMIT = 3
    API_ENV = {"RATE_LIMIT_MAX_REQUESTS": str(LIMIT), "RATE_LIMIT_WINDOW_MS": "60000",
               "TRUST_PROXY_CIDRS": "127.0.0.0/8"}

    def tearDown(self):
        harness.read_messages(self.api.queue, count=10**6, timeout=0.3)

    def test_ratelimit_client_behind_trusted_proxy_is_the_key(self):
        proxy_a, proxy_b = next_source_address(), next_source_address()
        client = {"X-Forwarded-For": "203.0.113.10"}
        for _ in range(self.LIMIT):
            self.assertAccepted(self.api.post(new_activity(), source=proxy_a, headers=client))
        # The same client through another trusted proxy shares its budget ...
        self.assertProblem(self.api.post(new_activity(), source=proxy_b, headers=client), 429)
        # ... and a spoofed left-most entry does not change the key: the right-most untrusted
        # address is still 203.0.113.10.
        spoofed = {"X-Forwarded-For": "198.51.100.1, 203.0.113.10"}
        self.assertProblem(self.api.post(new_activity(), source=proxy_a, headers=spoofed), 429)
        # Trusted hops to the right are skipped.
        hops = {"X-Forwarded-For": "203.0.113.10, 127.0.0.99"}
        self.assertProblem(self.api.post(new_activity(), source=proxy_a, headers=hops), 429)
        # Another client through the same proxy is unaffected.
        other = {"X-Forwarded-For": "203.0.113.11"}
        self.assertAccepted(self.api.post(new_activity(), source=proxy_a, headers=other))


if __name__ == "__main__":
    unittest.main()
