# SPDX-License-Identifier: MIT
"""activity-consumer's operations endpoint (ops.c, libh2o): GET/HEAD /health answers 200 with a
JSON body while every worker is connected to the broker and 503 while they are not (a broker
on a closed port); /metrics is the full Prometheus text with a Content-Length; unknown paths
are 404, other methods 405 with Allow; a scraper's idle keep-alive connection does not hold up
the stop."""
import http.client
import json
import signal
import subprocess
import time

import consumer_harness as h

h.skip_module_if_missing()

PROM_TYPE = "text/plain; version=0.0.4; charset=utf-8"
FAMILIES = (
    "activity_consumer_messages_total",
    "activity_consumer_batches_total",
    "activity_consumer_insert_duration_seconds",
    "activity_consumer_workers_connected",
    "activity_consumer_paused",
    "activity_consumer_reconnects_total",
)


def request(port, method, path, conn=None):
    """One request; returns (status, headers as a lower-cased dict, body bytes)."""
    own = conn is None
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path)
        r = c.getresponse()
        body = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    finally:
        if own:
            c.close()


def health(port):
    status, headers, body = request(port, "GET", "/health")
    return status, headers, json.loads(body)


class ConsumerOpsTest(h.ConsumerTestCase):
    def wait_health(self, c, status):
        return h.wait_until(lambda: (lambda r: r if r[0] == status else None)(
            health(c.metrics_port)), 30, "/health %d" % status)

    def test_consumer_ops_health_is_200_when_every_worker_is_connected(self):
        c = self.consumer(CONSUMER_WORKERS=2)
        status, headers, doc = self.wait_health(c, 200)
        self.assertEqual(headers["content-type"], "application/json")
        self.assertEqual(headers.get("cache-control"), "no-store")
        self.assertEqual(doc, {"status": "ok", "workers": 2, "connected": 2, "paused": 0,
                               "stopping": False})
        # HEAD: the same status and headers, no body.
        status, head_headers, body = request(c.metrics_port, "HEAD", "/health")
        self.assertEqual(status, 200)
        self.assertEqual(body, b"")
        self.assertEqual(head_headers["content-length"], headers["content-length"])
        self.assertEqual(c.stop(), 0)

    def test_consumer_ops_health_is_503_when_the_broker_is_unreachable(self):
        closed = "amqp://guest:guest@127.0.0.1:%d/" % h.free_port()
        c = self.consumer(CONSUMER_WORKERS=2, RABBITMQ_URL=closed)
        # The workers keep retrying (an unreachable broker is not a startup error) ...
        h.wait_until(lambda: any("cannot connect to the broker" in l.get("msg", "")
                                 for l in c.log_lines()), 30, "a failed connection attempt")
        status, headers, doc = health(c.metrics_port)
        self.assertEqual(status, 503)
        self.assertEqual(headers["content-type"], "application/json")
        self.assertEqual(doc, {"status": "unavailable", "workers": 2, "connected": 0,
                               "paused": 0, "stopping": False})
        status, _, body = request(c.metrics_port, "HEAD", "/health")
        self.assertEqual((status, body), (503, b""))
        self.assertEqual(c.metric("activity_consumer_workers_connected"), 0)
        self.assertTrue(c.alive())
        t0 = time.monotonic()
        self.assertEqual(c.stop(), 0)
        self.assertLess(time.monotonic() - t0, 10)

    def test_consumer_ops_metrics_is_the_whole_text_with_a_length(self):
        self.broker.publish([h.message(i) for i in range(20)])
        c = self.consumer(CONSUMER_WORKERS=1)
        h.wait_until(lambda: self.database.count() == 20, 60, "20 documents")
        h.wait_until(lambda: c.metric('activity_consumer_messages_total{result="stored"}') == 20,
                     30, "20 stored counted")
        conn = http.client.HTTPConnection("127.0.0.1", c.metrics_port, timeout=10)
        try:
            # Two scrapes on one keep-alive connection, the second with a query string.
            for path in ("/metrics", "/metrics?name[]=x"):
                status, headers, body = request(c.metrics_port, "GET", path, conn)
                self.assertEqual(status, 200, path)
                self.assertEqual(headers["content-type"], PROM_TYPE)
                self.assertNotIn("transfer-encoding", headers)
                self.assertEqual(int(headers["content-length"]), len(body))
                text = body.decode()
                self.assertTrue(text.endswith("\n"))
                for family in FAMILIES:
                    self.assertIn("# TYPE %s " % family, text)
                self.assertIn('activity_consumer_messages_total{result="stored"} 20\n', text)
                self.assertIn('activity_consumer_insert_duration_seconds_bucket{le="+Inf"}', text)
                for line in text.splitlines():
                    if line and not line.startswith("#"):
                        float(line.rpartition(" ")[2])  # every sample line parses
            status, head_headers, body = request(c.metrics_port, "HEAD", "/metrics", conn)
            self.assertEqual((status, body), (200, b""))
            self.assertEqual(head_headers["content-type"], PROM_TYPE)
            self.assertGreater(int(head_headers["content-length"]), 1000)
        finally:
            conn.close()
        self.assertEqual(c.stop(), 0)

    def test_consumer_ops_unknown_path_404_other_method_405(self):
        c = self.consumer(CONSUMER_WORKERS=1)
        for path in ("/", "/nope", "/metrics/", "/healthz", "/api/v1/activities"):
            status, _, _ = request(c.metrics_port, "GET", path)
            self.assertEqual(status, 404, path)
        for method in ("POST", "PUT", "DELETE", "OPTIONS"):
            for path in ("/metrics", "/health"):
                status, headers, _ = request(c.metrics_port, method, path)
                self.assertEqual(status, 405, (method, path))
                self.assertEqual(headers.get("allow"), "GET, HEAD", (method, path))
        self.assertEqual(request(c.metrics_port, "GET", "/metrics")[0], 200)
        self.assertEqual(c.stop(), 0)

    def test_consumer_ops_idle_keepalive_connection_does_not_hold_up_the_stop(self):
        c = self.consumer(CONSUMER_WORKERS=1)
        self.wait_health(c, 200)
        conn = http.client.HTTPConnection("127.0.0.1", c.metrics_port, timeout=10)
        try:
            self.assertEqual(request(c.metrics_port, "GET", "/health", conn)[0], 200)
            t0 = time.monotonic()
            c.proc.send_signal(signal.SIGTERM)
            self.assertEqual(c.proc.wait(20), 0)
            self.assertLess(time.monotonic() - t0, 8)
        finally:
            conn.close()
        self.assertFalse(any(l.get("level") == "warn" and l.get("module") == "ops"
                             for l in c.log_lines()), c.logs()[-2000:])



class ConsumerConfigurationTest(h.ConsumerTestCase):
    def run_consumer(self, **env):
        c = h.Consumer(self.queue, self.dbname, **env)
        return subprocess.run([h.find_binary("activity-consumer")], env=c.env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=30)

    def test_consumer_ops_bad_setting_exits_2_naming_it(self):
        cases = [("RABBITMQ_URL", "amqp://nohost:1:2:3"), ("RABBITMQ_QUEUE", ""),
                 ("CONSUMER_METRICS_HOST", "no-such-host.invalid"),
                 ("DATABASE_URL", "mongodb://h:99999/db"), ("CONSUMER_PREFETCH", "50")]
        for name, value in cases:
            with self.subTest(name=name, value=value):
                proc = self.run_consumer(**{name: value})
                self.assertEqual(proc.returncode, 2, proc.stderr)
                lines = [json.loads(l) for l in proc.stderr.splitlines() if l]
                # One error names the variable (libmongoc may add its own line before it).
                named = [l for l in lines if l["level"] == "error" and "variable" in l]
                self.assertEqual(len(named), 1, proc.stderr)
                self.assertEqual(named[0]["variable"], name, proc.stderr)

    def test_consumer_ops_ignores_the_apis_settings(self):
        # The consumer reads only its own variables: the API's, even invalid, do not stop it.
        c = self.consumer(API_PORT="0", MAX_BODY_BYTES="1", TRUST_PROXY_CIDRS="not a cidr")
        h.wait_until(lambda: health(c.metrics_port)[0] == 200, 30, "/health 200")
        self.assertEqual(c.stop(), 0)

    def test_consumer_ops_database_url_options_reach_the_driver(self):
        # A replica set's options (DESIGN §6a) go in DATABASE_URL: the write concern of the URL
        # is the one used. (replicaSet= itself needs a real replica set, which FerretDB is not.)
        base = h.database_url_for(self.dbname)
        sep = "&" if "?" in base else "?"
        cases = [("w=1&journal=false&retryWrites=true&appName=at-it", "w=1,j=false"),
                 ("w=majority&wtimeoutMS=4000&retryWrites=true", "w=majority")]
        for i, (options, described) in enumerate(cases):
            with self.subTest(options=options):
                c = self.consumer(DATABASE_URL=base + sep + options)
                self.broker.publish([h.message(i)])
                h.wait_until(lambda: self.database.count() == i + 1, 30, "document stored")
                self.assertEqual(c.stop(), 0)
                starts = [l["msg"] for l in c.log_lines() if "write concern" in l.get("msg", "")]
                self.assertEqual(len(starts), 1, c.logs()[-2000:])
                self.assertIn("write concern " + described, starts[0])

    def test_consumer_ops_help_lists_only_its_own_variables(self):
        proc = subprocess.run([h.find_binary("activity-consumer"), "--help"],
                              capture_output=True, text=True, timeout=15)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("| `CONSUMER_PREFETCH` |", proc.stdout)
        self.assertIn("| `RABBITMQ_URL` |", proc.stdout)
        self.assertNotIn("API_PORT", proc.stdout)
        self.assertNotIn("TRUST_PROXY_CIDRS", proc.stdout)


if __name__ == "__main__":
    h.main()
