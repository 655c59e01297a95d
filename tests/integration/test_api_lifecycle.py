"""Start and stop of activity-api: configuration errors, SIGTERM with requests in flight, the
readiness drain, and SIGINT."""

import http.client
import json
import os
import signal
import subprocess
import threading
import time
import unittest

import harness
from harness import ApiTestCase, new_activity

ROUTE = "/api/v1/activities"


class Shutdown(ApiTestCase):
    START_API = False

    def test_lifecycle_sigterm_answers_every_request_in_flight(self):
        grace_ms = 5000
        api = self.start_api(env={"SHUTDOWN_GRACE_MS": str(grace_ms),
                                  **harness.LIMITER_OUT_OF_THE_WAY})
        n = 200
        barrier = threading.Barrier(n + 1, timeout=30)
        sent = threading.Semaphore(0)
        results = [None] * n

        def client(i):
            conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=30)
            try:
                conn.connect()
                barrier.wait()
                body = json.dumps(new_activity()).encode()
                conn.request("POST", ROUTE, body=body, headers={"Content-Type": "application/json"})
                sent.release()
                resp = conn.getresponse()
                results[i] = (resp.status, resp.getheader("Retry-After"), resp.read())
            except Exception as exc:
                results[i] = exc
                sent.release()
            finally:
                conn.close()

        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(n)]
        for t in threads:
            t.start()
        time.sleep(0.5)  # let the server accept every connection before the requests start
        barrier.wait()
        # SIGTERM once half of the requests are on the wire: the rest arrive during the drain.
        for _ in range(n // 2):
            self.assertTrue(sent.acquire(timeout=30), "clients did not send their requests")
        t_signal = time.monotonic()
        api.signal(signal.SIGTERM)
        for t in threads:
            t.join(timeout=60)
        rc = api.proc.wait(timeout=grace_ms / 1000 + 10)
        exit_s = time.monotonic() - t_signal

        errors = [r for r in results if not isinstance(r, tuple)]
        self.assertEqual(errors, [], "some requests got no complete HTTP answer")
        statuses = [r[0] for r in results]
        self.assertTrue(set(statuses) <= {202, 503}, f"statuses: {sorted(set(statuses))}")
        for status, retry_after, _ in results:
            if status == 503:
                self.assertIsNotNone(retry_after, "a 503 without Retry-After")
        self.assertEqual(rc, 0, api.log_tail())
        self.assertLess(exit_s, grace_ms / 1000 + 2, "exit took longer than SHUTDOWN_GRACE_MS")

        accepted = [json.loads(body)["id"] for status, _, body in results if status == 202]
        self.assertGreater(len(accepted), 0)
        got = {p.message_id for p, _ in harness.read_messages(api.queue, len(accepted), timeout=15,
                                                              settle=0.5)}
        self.assertEqual(set(accepted) - got, set(), "events answered 202 are missing from the queue")
        self.assertEqual(api.log_problems(), [])

    def test_lifecycle_ready_turns_503_at_once_on_sigterm(self):
        api = self.start_api(env={"READY_DRAIN_DELAY_MS": "2000", "SHUTDOWN_GRACE_MS": "5000"})
        self.assertEqual(api.get("/ready").status, 200)
        t = time.monotonic()
        api.signal(signal.SIGTERM)
        self.wait_until(lambda: api.status("/ready") == 503, 1.0, "/ready turns 503", interval=0.05)
        self.assertLess(time.monotonic() - t, 1.0)
        # During the drain delay the process still serves.
        self.assertEqual(api.status("/health"), 200)
        self.assertAccepted(api.post(new_activity()))
        rc = api.proc.wait(timeout=15)
        self.assertEqual(rc, 0, api.log_tail())
        self.assertGreaterEqual(time.monotonic() - t, 1.5, "exited before READY_DRAIN_DELAY_MS")

    def test_lifecycle_sigint_exits_cleanly(self):
        api = self.start_api()
        self.assertAccepted(api.post(new_activity()))
        api.signal(signal.SIGINT)
        self.assertEqual(api.proc.wait(timeout=15), 0, api.log_tail())
        self.assertEqual(api.log_problems(), [])


class Configuration(unittest.TestCase):
    def run_api(self, **env):
        full = dict(os.environ)
        full.update({"API_HOST": "127.0.0.1", "API_PORT": str(harness.free_port()),
                     "RABBITMQ_URL": harness.RABBITMQ_URL, "RABBITMQ_QUEUE": harness.new_queue_name()})
        full.update(env)
        try:
            return subprocess.run([harness.API_BIN], env=full, stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, timeout=15)
        finally:
            harness.delete_queues(full["RABBITMQ_QUEUE"], full["RABBITMQ_QUEUE"] + ".dlq")

    def test_lifecycle_bad_setting_exits_2_naming_it(self):
        cases = [("API_PORT", "abc"), ("RATE_LIMIT_MAX_REQUESTS", "0"), ("MAX_BODY_BYTES", "-1"),
                 ("RABBITMQ_URL", "http://localhost/"), ("LOG_LEVEL", "chatty"),
                 # Each of these once started an API that could never work.
                 ("RABBITMQ_URL", "amqp://nohost:1:2:3"),
                 ("API_HOST", "no-such-host.invalid"),
                 ("TRUST_PROXY_CIDRS", "10.0.0.0/33"),
                 # Set but empty is not "unset": it is refused, naming the variable.
                 ("RABBITMQ_QUEUE", ""), ("API_PORT", "")]
        for name, value in cases:
            with self.subTest(name=name, value=value):
                proc = self.run_api(**{name: value})
                self.assertEqual(proc.returncode, 2, proc.stderr)
                # The error is a JSON log line like every other, naming the variable.
                lines = [json.loads(line) for line in proc.stderr.splitlines() if line]
                self.assertEqual(len(lines), 1, proc.stderr)
                self.assertEqual(lines[0]["level"], "error")
                self.assertEqual(lines[0]["variable"], name)
                self.assertIn(name, lines[0]["msg"])

    def test_lifecycle_ignores_the_consumers_settings(self):
        # The API reads only its own variables: the consumer's, even invalid, do not stop it.
        api = harness.ApiProcess("config-own", env={"CONSUMER_PREFETCH": "50",
                                                    "DATABASE_URL": "not-a-url",
                                                    "MONGO_POOL_MAX": "0"})
        try:
            api.start()
            self.assertEqual(api.get("/ready").status, 200)
        finally:
            rc = api.stop()
            harness.delete_queues(api.queue, api.queue + ".dlq")
        self.assertEqual(rc, 0, api.log_tail())
        self.assertNotIn("CONSUMER_PREFETCH", api.log_text())

    def test_lifecycle_help_lists_only_its_own_variables(self):
        proc = subprocess.run([harness.API_BIN, "--help"], capture_output=True, text=True,
                              timeout=15)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("| `API_PORT` |", proc.stdout)
        self.assertIn("| `RABBITMQ_URL` |", proc.stdout)
        self.assertNotIn("CONSUMER_", proc.stdout)
        self.assertNotIn("DATABASE_URL", proc.stdout)


if __name__ == "__main__":
    unittest.main()
