"""Broker outages: the API never answers 202 for an event the broker has not confirmed, keeps
serving HTTP, reports its state, and recovers by itself.

The broker is controlled with AT_RABBITMQCTL (default "rabbitmqctl"); the tests are skipped when
that command cannot reach the broker. `start_app` always runs after `stop_app`, in a finally."""

import re
import time
import unittest

import harness
from harness import ApiTestCase, new_activity

RECOVERY_S = 30  # reconnect backoff plus a margin


def setUpModule():
    reason = harness.rabbitmqctl_usable()
    if reason:
        raise unittest.SkipTest(f"cannot control the broker: {reason}")


def metric(api, name):
    text = api.get("/metrics").body.decode()
    m = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.M)
    return float(m[1]) if m else None


class BrokerOutage(ApiTestCase):
    API_ENV = {"PUBLISH_CONFIRM_TIMEOUT_MS": "2000", **harness.LIMITER_OUT_OF_THE_WAY}

    def tearDown(self):
        harness.read_messages(self.api.queue, count=10**6, timeout=0.3)

    def post_outcome(self, accepted):
        """Posts one event; asserts the answer is 202 or 503 (with Retry-After) and records
        202'd ids in accepted. Returns the status."""
        resp = self.api.post(new_activity(), timeout=20)
        if resp.status == 202:
            accepted.append(self.assertAccepted(resp))
        else:
            self.assertProblem(resp, 503)
            self.assertRetryAfter(resp, low=1)
        self.assertMatchesOpenAPI(resp, "/api/v1/activities", "post")
        return resp.status

    def wait_accepting(self, accepted, timeout=RECOVERY_S):
        def ok():
            return self.post_outcome(accepted) == 202
        self.wait_until(ok, timeout, "the API accepts events again after the broker came back",
                        interval=0.5)

    def test_outage_connections_closed_by_broker(self):
        accepted = []
        self.assertEqual(self.post_outcome(accepted), 202)
        losses_before = metric(self.api, "activity_api_amqp_connection_losses_total") or 0
        closed = self.wait_until(harness.close_api_connections, 15,
                                 "the API's broker connection shows up in list_connections")
        self.assertGreaterEqual(closed, 1)
        # Right after the close: every answer is a 202 (after a confirm on the new connection) or
        # a 503 with Retry-After, never a hang or a crash.
        statuses = [self.post_outcome(accepted) for _ in range(20)]
        self.assertTrue(self.api.alive(), self.api.log_tail())
        self.wait_accepting(accepted)
        self.assertEqual(self.api.get("/ready").status, 200)
        self.assertEqual(self.api.get("/health").json().get("amqp"), "connected")
        losses = metric(self.api, "activity_api_amqp_connection_losses_total")
        self.assertIsNotNone(losses)
        self.assertGreater(losses, losses_before, f"statuses after the close: {statuses}")
        # Every event answered 202 is in the queue (duplicates are allowed: at least once).
        got = {p.message_id for p, _ in harness.read_messages(self.api.queue, len(accepted),
                                                               timeout=15, settle=0.5)}
        self.assertEqual(set(accepted) - got, set())

    def test_outage_broker_app_stopped_and_restarted(self):
        accepted = []
        self.assertEqual(self.post_outcome(accepted), 202)
        try:
            harness.rabbitmqctl("stop_app")

            # Requests during the outage: 503 + Retry-After, promptly (confirm timeout 2 s).
            for _ in range(3):
                t = time.monotonic()
                resp = self.api.post(new_activity(), timeout=20)
                self.assertProblem(resp, 503)
                self.assertRetryAfter(resp, low=1)
                self.assertMatchesOpenAPI(resp, "/api/v1/activities", "post")
                self.assertLess(time.monotonic() - t, 10, "a 503 took too long")
            self.assertTrue(self.api.alive(), self.api.log_tail())

            health = self.api.get("/health")
            self.assertEqual(health.status, 200, health)
            body = health.json()
            self.assertEqual(body.get("status"), "ok", body)
            self.assertIn(body.get("amqp"), ("connecting", "down"), body)
            self.assertMatchesOpenAPI(health, "/health", "get")
            ready = self.api.get("/ready")
            self.assertEqual(ready.status, 503, ready)
            self.assertMatchesOpenAPI(ready, "/ready", "get")
            self.assertEqual(metric(self.api, "activity_api_amqp_connected"), 0.0)
        finally:
            harness.rabbitmqctl("start_app")
            harness.wait_broker_app_running()

        self.wait_accepting(accepted)
        self.wait_until(lambda: self.api.get("/ready").status == 200, 10, "/ready is 200 again")
        self.assertEqual(self.api.get("/health").json().get("amqp"), "connected")
        # The event accepted before the outage survived it (durable queue, persistent message),
        # and so did every event accepted after.
        got = {p.message_id for p, _ in harness.read_messages(self.api.queue, len(accepted),
                                                               timeout=15, settle=0.5)}
        self.assertEqual(set(accepted) - got, set())


class StartWithoutBroker(ApiTestCase):
    """An API started while the broker is down serves HTTP, is not ready, and connects later."""

    START_API = False

    def test_outage_api_starts_before_broker(self):
        api = None
        try:
            harness.rabbitmqctl("stop_app")
            api = self.start_api(env={"PUBLISH_CONFIRM_TIMEOUT_MS": "2000"}, ready_timeout=0)
            self.wait_until(lambda: api.status("/health") == 200, 20, "/health answers")
            self.assertEqual(api.get("/ready").status, 503)
            resp = api.post(new_activity(), timeout=20)
            self.assertProblem(resp, 503)
            self.assertRetryAfter(resp, low=1)
        finally:
            harness.rabbitmqctl("start_app")
            harness.wait_broker_app_running()
        api.wait_ready(RECOVERY_S)
        event_id = self.assertAccepted(api.post(new_activity(), timeout=20))
        got = harness.read_messages(api.queue, 1, timeout=10)
        self.assertEqual([p.message_id for p, _ in got], [event_id])
        self.assertEqual(api.stop(), 0)


if __name__ == "__main__":
    unittest.main()
