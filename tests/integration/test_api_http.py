"""activity-api over HTTP against a live broker: accepted events and the message they become,
validation, content type, body size, routing, and the operational endpoints."""

import datetime
import json
import time
import unittest
import uuid

import harness
from harness import ApiTestCase, new_activity, parse_rfc3339

ROUTE = "/api/v1/activities"
MESSAGE_KEYS = ["id", "userId", "eventType", "timestamp", "payload", "receivedAt"]


class AcceptedEvents(ApiTestCase):
    """A valid POST is answered 202 only once the broker holds the message."""

    def setUp(self):
        # Each test starts from an empty queue.
        harness.read_messages(self.api.queue, count=10**6, timeout=0.3)

    def check_message(self, props, body, event_id, sent, before, after):
        raw = body.decode("utf-8")
        self.assertTrue(harness.is_compact_json(raw), f"message body is not compact JSON: {raw}")
        pairs = json.loads(raw, object_pairs_hook=lambda kv: kv)
        self.assertEqual([k for k, _ in pairs], MESSAGE_KEYS, raw)
        msg = json.loads(raw)
        self.assertEqual(msg["id"], event_id)
        self.assertEqual(msg["userId"], sent["userId"])
        self.assertEqual(msg["eventType"], sent["eventType"])
        self.assertEqual(msg["payload"], sent["payload"])
        ts = parse_rfc3339(msg["timestamp"])
        self.assertIsNotNone(ts, f"timestamp is not RFC 3339: {msg['timestamp']!r}")
        self.assertEqual(ts, parse_rfc3339(sent["timestamp"]))
        received = parse_rfc3339(msg["receivedAt"])
        self.assertIsNotNone(received, f"receivedAt is not RFC 3339: {msg['receivedAt']!r}")
        slack = datetime.timedelta(seconds=2)
        self.assertTrue(before - slack <= received <= after + slack,
                        f"receivedAt {msg['receivedAt']} outside [{before}, {after}]")

        self.assertEqual(props.content_type, "application/json")
        self.assertEqual(props.delivery_mode, 2)
        self.assertEqual(props.message_id, event_id)
        self.assertEqual(props.app_id, "activity-api")
        self.assertIsInstance(props.timestamp, int)
        self.assertTrue(before.timestamp() - 2 <= props.timestamp <= after.timestamp() + 2,
                        f"message timestamp {props.timestamp} is not the receive time")

    def test_api_valid_event_is_queued_with_its_properties(self):
        event = new_activity()
        before = datetime.datetime.now(datetime.timezone.utc)
        resp = self.api.post(event)
        after = datetime.datetime.now(datetime.timezone.utc)
        event_id = self.assertAccepted(resp)
        self.assertMatchesOpenAPI(resp, ROUTE, "post")
        self.assertEqual(harness.uuid_version(event_id), 7, "a server-assigned id is a UUIDv7")

        messages = harness.read_messages(self.api.queue, count=1, timeout=10, settle=0.3)
        self.assertEqual(len(messages), 1, messages)
        self.check_message(*messages[0], event_id=event_id, sent=event, before=before, after=after)

    def test_api_client_id_is_used_lower_cased(self):
        client_id = str(uuid.uuid4()).upper()
        event = new_activity(id=client_id)
        before = datetime.datetime.now(datetime.timezone.utc)
        resp = self.api.post(event)
        after = datetime.datetime.now(datetime.timezone.utc)
        event_id = self.assertAccepted(resp)
        self.assertEqual(event_id, client_id.lower())

        messages = harness.read_messages(self.api.queue, count=1, timeout=10, settle=0.3)
        self.assertEqual(len(messages), 1, messages)
        self.check_message(*messages[0], event_id=client_id.lower(), sent=event, before=before,
                           after=after)

    def test_api_ids_are_unique_and_time_ordered(self):
        ids = [self.assertAccepted(self.api.post(new_activity())) for _ in range(20)]
        self.assertEqual(len(set(ids)), 20)
        # UUIDv7: the first 48 bits are the millisecond timestamp, so ids never go backwards.
        millis = [int(i.replace("-", "")[:12], 16) for i in ids]
        self.assertEqual(millis, sorted(millis), ids)
        got = harness.read_messages(self.api.queue, count=20, timeout=10, settle=0.3)
        self.assertEqual(sorted(p.message_id for p, _ in got), sorted(ids))

    def test_api_json_charset_parameter_is_accepted(self):
        resp = self.api.post(new_activity(), content_type="application/json; charset=utf-8")
        self.assertAccepted(resp)

    def test_api_event_edge_values_are_accepted(self):
        cases = {
            "leap day": new_activity(timestamp="2024-02-29T23:59:59+01:00"),
            "leap second": new_activity(timestamp="2016-12-31T23:59:60Z"),
            "fraction and offset": new_activity(timestamp="2024-05-01T12:00:00.123456-07:30"),
            "empty payload": new_activity(payload={}),
            "unicode": new_activity(userId="üser-ß-😀", payload={"città": "Zürich"}),
            "255-byte ids": new_activity(userId="u" * 255, eventType="e" * 255),
        }
        for name, event in cases.items():
            with self.subTest(name):
                self.assertAccepted(self.api.post(event))
        got = harness.read_messages(self.api.queue, count=len(cases), timeout=10, settle=0.3)
        self.assertEqual(len(got), len(cases))
        bodies = [json.loads(b) for _, b in got]
        self.assertIn({"città": "Zürich"}, [b["payload"] for b in bodies])


class RejectedEvents(ApiTestCase):
    """Invalid requests are answered with a problem and never reach the queue."""

    API_ENV = {"MAX_BODY_BYTES": "4096"}

    def assertNothingQueued(self):
        # A valid event sent afterwards must be the only message: anything published for the
        # rejected requests would sit in front of it.
        event_id = self.assertAccepted(self.api.post(new_activity()))
        got = harness.read_messages(self.api.queue, count=1, timeout=10, settle=0.5)
        self.assertEqual([p.message_id for p, _ in got], [event_id])

    def assertFields(self, resp, expected):
        body = self.assertProblem(resp, 400)
        self.assertMatchesOpenAPI(resp, ROUTE, "post")
        errors = body.get("errors")
        self.assertIsInstance(errors, list, body)
        for e in errors:
            self.assertIsInstance(e, dict, body)
            self.assertIsInstance(e.get("field"), str, body)
            self.assertIsInstance(e.get("message"), str, body)
            self.assertTrue(e["message"], body)
        fields = [e["field"] for e in errors]
        for f in expected:
            self.assertTrue(any(x == f or x.startswith(f + ".") or x.startswith(f + "[")
                                or x == "/" + f or x.startswith("/" + f + "/") for x in fields),
                            f"field {f!r} not named in {fields}")
        return body

    def test_api_every_invalid_field_is_listed(self):
        resp = self.api.post({"userId": "", "eventType": 42, "timestamp": "2024-13-01T00:00:00Z",
                              "payload": [1, 2], "colour": "red"})
        self.assertFields(resp, ["userId", "eventType", "timestamp", "payload", "colour"])
        self.assertNothingQueued()

    def test_api_missing_fields_are_listed(self):
        resp = self.api.post({})
        self.assertFields(resp, ["userId", "eventType", "timestamp", "payload"])
        self.assertNothingQueued()

    def test_api_bad_values_are_rejected(self):
        cases = {
            "timestamp without offset": (new_activity(timestamp="2024-05-01T12:00:00"), "timestamp"),
            "February 30": (new_activity(timestamp="2023-02-30T00:00:00Z"), "timestamp"),
            "Feb 29 in a common year": (new_activity(timestamp="2023-02-29T00:00:00Z"), "timestamp"),
            "hour 24": (new_activity(timestamp="2024-05-01T24:00:00Z"), "timestamp"),
            "not a date": (new_activity(timestamp="yesterday"), "timestamp"),
            "blank userId": (new_activity(userId="   "), "userId"),
            "control character": (new_activity(eventType="click\u0001"), "eventType"),
            "256-byte userId": (new_activity(userId="u" * 256), "userId"),
            "payload null": (new_activity(payload=None) | {"payload": None}, "payload"),
            "payload string": (new_activity(payload="x"), "payload"),
            "payload $ key": (new_activity(payload={"$where": 1}), "payload"),
            "payload NUL key": (new_activity(payload={"a\u0000b": 1}), "payload"),
            "payload too deep": (new_activity(payload=_nested(33)), "payload"),
            "id not a uuid": (new_activity(id="not-a-uuid"), "id"),
            "id a number": (new_activity(id=7), "id"),
        }
        for name, (event, field) in cases.items():
            with self.subTest(name):
                self.assertFields(self.api.post(event), [field])
        self.assertNothingQueued()

    def test_api_deepest_allowed_payload_is_accepted(self):
        self.assertAccepted(self.api.post(new_activity(payload=_nested(32))))
        harness.read_messages(self.api.queue, count=1, timeout=10)

    def test_api_malformed_json_is_rejected(self):
        for name, raw in {"truncated": b'{"userId": "a", ', "not json": b"hello",
                          "array": b"[1, 2]", "bad utf-8": b'{"userId": "\xff\xfe"}',
                          "empty": b""}.items():
            with self.subTest(name):
                resp = self.api.post(raw)
                body = self.assertProblem(resp, 400)
                self.assertIn("errors", body)
                self.assertMatchesOpenAPI(resp, ROUTE, "post")
        self.assertNothingQueued()

    def test_api_non_json_content_type_is_415(self):
        for ctype in ("text/plain", "application/x-www-form-urlencoded", None):
            with self.subTest(content_type=ctype):
                resp = self.api.post(json.dumps(new_activity()), content_type=ctype)
                self.assertProblem(resp, 415)
                self.assertMatchesOpenAPI(resp, ROUTE, "post")
        self.assertNothingQueued()

    def test_api_body_over_limit_is_413(self):
        event = new_activity(payload={"blob": "x" * 5000})
        resp = self.api.post(event)
        self.assertEqual(resp.status, 413, resp)
        self.assertMatchesOpenAPI(resp, ROUTE, "post")
        # Just under the limit is fine.
        event = new_activity(payload={"blob": ""})
        event["payload"]["blob"] = "x" * (4000 - len(json.dumps(event)))
        self.assertAccepted(self.api.post(event))
        harness.read_messages(self.api.queue, count=1, timeout=10)
        self.assertNothingQueued()


class Routing(ApiTestCase):
    def test_api_unknown_path_is_404_problem(self):
        for method, path in (("GET", "/nope"), ("POST", "/api/v1/activity"),
                             ("GET", "/api/v2/activities"), ("GET", "/")):
            with self.subTest(f"{method} {path}"):
                resp = self.api.request(method, path, body=b"{}" if method == "POST" else None,
                                        headers={"Content-Type": "application/json"})
                self.assertProblem(resp, 404)
                self.assertMatchesOpenAPI(resp, path, method)

    def test_api_wrong_method_is_405_with_allow(self):
        for method in ("GET", "PUT", "DELETE", "PATCH"):
            with self.subTest(method):
                resp = self.api.request(method, ROUTE)
                self.assertEqual(resp.status, 405, resp)
                allow = [m.strip().upper() for m in (resp.header("Allow") or "").split(",")]
                self.assertIn("POST", allow, resp)
                self.assertMatchesOpenAPI(resp, ROUTE, method)

    def test_api_keep_alive_serves_several_requests(self):
        conn = harness.http.client.HTTPConnection("127.0.0.1", self.api.port, timeout=10)
        try:
            for _ in range(5):
                conn.request("POST", ROUTE, body=json.dumps(new_activity()),
                             headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                body = resp.read()
                self.assertEqual(resp.status, 202, body)
        finally:
            conn.close()
        harness.read_messages(self.api.queue, count=5, timeout=10)


class OperationalEndpoints(ApiTestCase):
    def test_api_health_reports_ok_and_broker_state(self):
        resp = self.api.get("/health")
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual((resp.header("Content-Type") or "").split(";")[0], "application/json")
        body = resp.json()
        self.assertEqual(body.get("status"), "ok", body)
        self.assertEqual(body.get("amqp"), "connected", body)
        self.assertMatchesOpenAPI(resp, "/health", "get")

    def test_api_ready_when_connected(self):
        resp = self.api.get("/ready")
        self.assertEqual(resp.status, 200, resp)
        self.assertMatchesOpenAPI(resp, "/ready", "get")

    def test_api_metrics_are_prometheus_text(self):
        self.assertAccepted(self.api.post(new_activity()))
        self.assertEqual(self.api.post(b"{}").status, 400)
        resp = self.api.get("/metrics")
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual((resp.header("Content-Type") or "").split(";")[0].strip(), "text/plain")
        self.assertMatchesOpenAPI(resp, "/metrics", "get")
        text = resp.body.decode("utf-8")
        samples = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            name, _, value = line.rpartition(" ")
            float(value)  # every sample line ends in a number
            samples[name] = float(value)
        names = {n.split("{")[0] for n in samples}
        self.assertTrue(all(n.startswith("activity_api_") for n in names), names)
        for family in ("activity_api_http_responses_total", "activity_api_publish_latency_seconds",
                       "activity_api_amqp_connected"):
            self.assertIn(f"# TYPE {family} ", text)
        self.assertEqual(samples.get("activity_api_amqp_connected"), 1.0, text)
        # The latency histogram saw the accepted event.
        self.assertGreaterEqual(samples.get("activity_api_publish_latency_seconds_count", 0), 1, text)
        self.assertTrue(any(k.startswith("activity_api_http_responses_total{") and 'status="202"' in k
                            and v >= 1 for k, v in samples.items()), text)
        harness.read_messages(self.api.queue, count=1, timeout=10)

    def test_api_operational_endpoints_reject_other_methods(self):
        for path in ("/health", "/ready", "/metrics"):
            with self.subTest(path):
                resp = self.api.request("POST", path, body=b"{}",
                                        headers={"Content-Type": "application/json"})
                self.assertIn(resp.status, (404, 405), resp)


def _nested(depth):
    """A payload object whose nesting depth is depth (the payload object itself is level 1)."""
    value = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"n": value}
    return value


if __name__ == "__main__":
    unittest.main()
