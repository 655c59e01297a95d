# SPDX-License-Identifier: MIT
"""activity-consumer end to end: messages in the queue become documents with the right fields
and types, exactly once; poison goes to the dead-letter queue and the workers carry on; events
posted through the API are all stored; SIGTERM flushes a partial batch."""
import datetime
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import consumer_harness as h

h.skip_module_if_missing()


def as_utc_ms(dt):
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return int(dt.timestamp() * 1000)


class ConsumerPipelineTest(h.ConsumerTestCase):
    def test_consumer_stores_documents_with_fields_and_types(self):
        ids = [str(uuid.uuid4()) for _ in range(300)]
        self.broker.publish([h.message(i, ids[i]) for i in range(300)])
        c = self.consumer()
        h.wait_until(lambda: self.database.count() == 300, 60, "300 documents")
        time.sleep(0.5)
        self.assertEqual(self.database.count(), 300)
        self.assertEqual(set(d["_id"] for d in self.database.coll.find({}, {"_id": 1})), set(ids))

        doc = self.database.coll.find_one({"_id": ids[7]})
        self.assertEqual(list(doc.keys()), [
            "_id", "id", "userId", "eventType", "timestamp", "payload", "receivedAt",
            "processedAt", "createdAt", "updatedAt"])
        self.assertEqual(doc["id"], ids[7])
        self.assertEqual(doc["userId"], "user-7")
        self.assertEqual(doc["eventType"], "view")
        for k in ("timestamp", "receivedAt", "processedAt", "createdAt", "updatedAt"):
            self.assertIsInstance(doc[k], datetime.datetime, k)
        # 2024-05-01T12:00:07.250+02:00
        self.assertEqual(as_utc_ms(doc["timestamp"]), 1714557607250)
        self.assertEqual(as_utc_ms(doc["receivedAt"]), 1714557601000)
        self.assertEqual(doc["createdAt"], doc["processedAt"])
        self.assertEqual(doc["updatedAt"], doc["processedAt"])
        now_ms = time.time() * 1000
        self.assertLess(abs(as_utc_ms(doc["processedAt"]) - now_ms), 120000)
        self.assertEqual(doc["payload"], {"i": 7, "page": "/p/7", "tags": ["a", "b"], "ratio": 0.5,
                                          "ok": True, "none": None,
                                          "nested": {"depth": {"x": 7}}})

        indexes = self.database.coll.index_information()
        keys = sorted(tuple(v["key"]) for v in indexes.values())
        self.assertIn((("userId", 1), ("timestamp", -1)), keys)
        self.assertIn((("eventType", 1), ("timestamp", -1)), keys)

        self.assertTrue(c.healthy())
        self.assertEqual(c.metric('activity_consumer_messages_total{result="stored"}'), 300)
        self.assertEqual(c.stop(), 0)
        self.assertEqual(self.broker.depth(self.queue), 0)
        self.assertEqual(self.broker.depth(self.broker.dlq), 0)
        # --health fails once nobody refreshes the file.
        old = time.time() - 60
        os.utime(c.health, (old, old))
        self.assertFalse(c.healthy())

    def test_consumer_poison_goes_to_dlq_and_workers_carry_on(self):
        poison = [
            b"not json at all",
            b'{"id":"0190f3a2-7c1e-7d2a-9b4c-3d5e6f708192","userId":"u"}',
            h.message(1, payload=[1, 2]),
            h.message(2, timestamp="2024-02-30T00:00:00Z"),
            h.message(3, id="not-a-uuid"),
            b"\xff\xfe invalid utf-8",
        ]
        self.broker.publish([h.message(i) for i in range(10)] + poison +
                            [h.message(i) for i in range(10, 20)])
        c = self.consumer()
        h.wait_until(lambda: self.database.count() == 20, 60, "20 valid documents")
        h.wait_until(lambda: self.broker.depth(self.broker.dlq) == len(poison), 30,
                     "poison in the DLQ")
        self.assertTrue(c.alive())
        self.assertEqual(c.metric('activity_consumer_messages_total{result="poison"}'), len(poison))
        # The workers keep consuming after poison.
        self.broker.publish([h.message(i) for i in range(20, 25)])
        h.wait_until(lambda: self.database.count() == 25, 60, "25 documents")
        warnings = [l for l in c.log_lines() if "poison" in l.get("msg", "")]
        self.assertEqual(len(warnings), len(poison))
        self.assertTrue(all("delivery_tag" in l for l in warnings))
        self.assertEqual(c.stop(), 0)
        self.assertEqual(sorted(self.broker.get_all(self.broker.dlq)), sorted(poison))
        self.assertEqual(self.broker.depth(self.queue), 0)

    def test_consumer_duplicate_ids_store_one_document(self):
        eid = str(uuid.uuid4())
        self.broker.publish([h.message(1, eid), h.message(1, eid), h.message(2)])
        c = self.consumer()
        h.wait_until(lambda: self.database.count() == 2, 60, "2 documents")
        self.broker.publish([h.message(1, eid)])  # a redelivery long after the first
        h.wait_until(lambda: c.metric('activity_consumer_messages_total{result="duplicate"}') == 2,
                     30, "2 duplicates counted")
        self.assertEqual(self.database.count(), 2)
        self.assertEqual(c.stop(), 0)
        self.assertEqual(self.broker.depth(self.queue), 0)
        self.assertEqual(self.broker.depth(self.broker.dlq), 0)

    def test_consumer_sigterm_flushes_partial_batch(self):
        c = self.consumer(CONSUMER_BATCH_SIZE=1000, CONSUMER_PREFETCH=1000,
                          CONSUMER_BATCH_MS=60000, CONSUMER_WORKERS=1)
        self.broker.publish([h.message(i) for i in range(5)])
        # Delivered (no longer ready) but held in the worker's batch for up to a minute.
        h.wait_until(lambda: self.broker.depth(self.queue) == 0, 30, "delivery to the worker")
        time.sleep(0.5)
        self.assertEqual(self.database.count(), 0)
        t0 = time.monotonic()
        self.assertEqual(c.stop(), 0)
        self.assertLess(time.monotonic() - t0, 15)
        self.assertEqual(self.database.count(), 5)
        self.assertEqual(self.broker.depth(self.queue), 0)  # acked, not requeued

    def test_consumer_topology_mismatch_is_a_startup_error(self):
        other = self.queue + "_plain"
        self.broker.ensure()
        self.broker.ch.queue_declare(other, durable=True)  # no dead-lettering arguments
        try:
            c = h.Consumer(other, self.dbname)
            self.consumers.append(c)
            c.proc = subprocess.Popen([h.find_binary("activity-consumer")], env=c.env,
                                      stdout=c.log, stderr=subprocess.STDOUT)
            self.assertEqual(c.proc.wait(60), 1)
            errors = [l["msg"] for l in c.log_lines() if l.get("level") == "error"]
            self.assertTrue(any("exists with other arguments" in m and other in m for m in errors),
                            errors)
        finally:
            self.broker.ensure()
            self.broker.ch.queue_delete(other)
            self.broker.ch.queue_delete(other + ".dlq")

    def test_consumer_stores_every_event_accepted_by_the_api(self):
        api = h.find_binary("activity-api")
        if api is None:
            self.skipTest("activity-api is not built")
        port = h.free_port()
        env = dict(os.environ, RABBITMQ_URL=h.RABBITMQ_URL, RABBITMQ_QUEUE=self.queue,
                   API_HOST="127.0.0.1", API_PORT=str(port), RATE_LIMIT_MAX_REQUESTS="100000",
                   RATE_LIMIT_MAX_CLIENTS="64",
                   LOG_LEVEL="warn")
        log = open(os.devnull, "wb")
        proc = subprocess.Popen([api], env=env, stdout=log, stderr=log)
        try:
            h.wait_until(lambda: h.tcp_open("127.0.0.1", port), 20, "the API port")
            h.wait_until(lambda: self._ready(port), 30, "API /ready")
            accepted = {}
            for i in range(200):
                body = {"userId": "u%d" % i, "eventType": "signup",
                        "timestamp": "2024-05-01T12:00:00Z",
                        "payload": {"i": i, "s": "x" * (i % 7), "f": i / 4}}
                if i % 2:
                    body["id"] = str(uuid.uuid4())
                req = urllib.request.Request(
                    "http://127.0.0.1:%d/api/v1/activities" % port,
                    data=json.dumps(body).encode(), method="POST",
                    headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=10) as r:
                    self.assertEqual(r.status, 202)
                    got = json.loads(r.read())
                if "id" in body:
                    self.assertEqual(got["id"], body["id"])
                accepted[got["id"]] = body
        finally:
            proc.terminate()
            proc.wait(30)
        c = self.consumer()
        h.wait_until(lambda: self.database.count() == len(accepted), 60, "every accepted event")
        for d in self.database.coll.find():
            b = accepted[d["_id"]]
            self.assertEqual(d["userId"], b["userId"])
            self.assertEqual(d["payload"], b["payload"])
            self.assertEqual(as_utc_ms(d["timestamp"]), 1714564800000)
            self.assertIsInstance(d["receivedAt"], datetime.datetime)
        self.assertEqual(c.stop(), 0)

    @staticmethod
    def _ready(port):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/ready" % port, timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False


if __name__ == "__main__":
    h.main()
