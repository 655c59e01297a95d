# SPDX-License-Identifier: MIT
"""activity-consumer under failure: kill -9 in the middle of a 20k-event run and a restart store
exactly 20k documents; a ~10 s database outage loses nothing and recovers without a restart
(pause, requeue, resume); a broker restart is survived by reconnecting."""
import threading
import time

import consumer_harness as h

h.skip_module_if_missing()

STORED = 'activity_consumer_messages_total{result="stored"}'


class ConsumerResilienceTest(h.ConsumerTestCase):
    def assert_settled(self, total):
        """Every message stored exactly once; nothing left in either queue."""
        self.assertEqual(self.database.count(), total)
        self.assertEqual(self.broker.depth(self.queue), 0)
        self.assertEqual(self.broker.depth(self.broker.dlq), 0)

    def test_consumer_kill9_mid_run_and_restart_store_exactly_20000(self):
        total = 20000
        self.broker.publish(h.message(i) for i in range(total))
        h.wait_until(lambda: self.broker.depth(self.queue) == total, 60, "20000 queued")
        c = self.consumer(CONSUMER_WORKERS=2)
        h.wait_until(lambda: self.database.count() >= 3000, 180, "3000 stored before the kill")
        c.kill9()
        at_kill = self.database.count()
        self.assertLess(at_kill, total, "the consumer finished before the kill; nothing tested")
        c2 = self.consumer(CONSUMER_WORKERS=2)
        h.wait_until(lambda: self.database.count() >= total, 300, "20000 documents",
                     interval=1)
        time.sleep(1)
        self.assertEqual(c2.stop(), 0)
        self.assert_settled(total)

    def test_consumer_database_outage_loses_nothing_and_recovers(self):
        controls = h.db_outage_controls()
        if controls is None:
            self.skipTest("no way to stop the database (set AT_DB_STOP_CMD and AT_DB_START_CMD)")
        db_stop, db_start = controls
        c = self.consumer(CONSUMER_WORKERS=2, CONSUMER_RETRY_MAX_MS=3000)
        total, published = 3000, []

        def publish_steadily():
            for k in range(30):  # 100 messages every 0.5 s for 15 s
                self.broker_pub.publish(h.message(k * 100 + i) for i in range(100))
                published.append(100)
                time.sleep(0.5)

        # pika connections are not thread-safe: the publishing thread has its own.
        self.broker_pub = h.Broker(self.queue)
        t = threading.Thread(target=publish_steadily)
        t.start()
        restarted = False
        try:
            h.wait_until(lambda: self.database.count() > 0, 30, "first documents")
            db_stop()
            # Watch the workers give up (CONSUMER_RETRY_MAX_MS=3000) and pause.
            paused_seen, t_end = 0.0, time.monotonic() + 10
            while time.monotonic() < t_end:
                paused_seen = max(paused_seen, c.metric("activity_consumer_paused"))
                time.sleep(0.5)
            db_start()
            restarted = True
        finally:
            if not restarted:
                db_start()
            t.join(60)
        self.assertEqual(sum(published), total)
        # A fresh client: the test's own connection saw the outage too.
        self.database = h.Database(self.dbname)
        h.wait_until(lambda: self.database.count() >= total, 180, "every document after the outage",
                     interval=1)
        self.assertTrue(c.alive(), "the consumer must recover without a restart")
        h.wait_until(lambda: c.metric("activity_consumer_paused") == 0, 60, "resumed")
        self.assertGreaterEqual(paused_seen, 1, "no worker paused during the outage")
        self.assertGreater(c.metric('activity_consumer_messages_total{result="requeued"}'), 0)
        # The requeue (nack of tag 0 with multiple) and the cancel/consume cycle are accepted by
        # the broker: no channel error, so no reconnect.
        self.assertEqual(c.metric("activity_consumer_reconnects_total"), 0)
        msgs = [l.get("msg", "") for l in c.log_lines()]
        self.assertTrue(any(s.startswith("gave up on the database") for s in msgs), msgs[-10:])
        self.assertTrue(any("consuming resumed" in s for s in msgs), msgs[-10:])
        self.assertEqual(c.stop(), 0)
        self.assert_settled(total)

    def test_consumer_second_signal_exits_at_once_without_loss(self):
        controls = h.db_outage_controls()
        if controls is None:
            self.skipTest("no way to stop the database (set AT_DB_STOP_CMD and AT_DB_START_CMD)")
        db_stop, db_start = controls
        c = self.consumer(CONSUMER_WORKERS=1, CONSUMER_RETRY_MAX_MS=120000,
                          CONSUMER_BATCH_SIZE=50, CONSUMER_BATCH_MS=60000)
        h.wait_until(lambda: c.metric("activity_consumer_workers_connected") == 1, 30,
                     "the worker to connect")
        db_stop()
        try:
            self.broker.publish(h.message(i) for i in range(10))
            h.wait_until(lambda: self.broker.depth(self.queue) == 0, 30, "delivery to the worker")
            c.proc.send_signal(h.signal.SIGTERM)
            time.sleep(2)
            # Still trying to store its batch (up to CONSUMER_RETRY_MAX_MS) ...
            self.assertTrue(c.alive(), "the first signal must let the batch finish")
            t0 = time.monotonic()
            c.proc.send_signal(h.signal.SIGTERM)
            self.assertEqual(c.proc.wait(10), 1)
            # ... and the second one ends it at once.
            self.assertLess(time.monotonic() - t0, 5)
        finally:
            db_start()
        self.database = h.Database(self.dbname)
        # Nothing was acked: the broker hands the batch to the next consumer.
        h.wait_until(lambda: self.broker.depth(self.queue) == 10, 30, "the batch back in the queue")
        c2 = self.consumer(CONSUMER_WORKERS=1)
        h.wait_until(lambda: self.database.count() == 10, 60, "10 documents")
        self.assertEqual(c2.stop(), 0)
        self.assert_settled(10)

    def test_consumer_waits_for_the_database_at_start_and_stops_cleanly(self):
        dead = "mongodb://127.0.0.1:%d/%s" % (h.free_port(), self.dbname)
        c = self.consumer(DATABASE_URL=dead)
        time.sleep(7)  # longer than one server selection timeout (5 s)
        self.assertTrue(c.alive(), "the consumer must wait for the database, not exit")
        self.assertTrue(c.healthy())
        msgs = [l.get("msg", "") for l in c.log_lines()]
        self.assertTrue(any("waiting for the database" in m for m in msgs), msgs)
        t0 = time.monotonic()
        self.assertEqual(c.stop(), 0)
        self.assertLess(time.monotonic() - t0, 10)

    def test_consumer_broker_restart_reconnects_without_loss(self):
        controls = h.broker_restart_controls()
        if controls is None:
            self.skipTest("no way to restart the broker (set AT_RABBITMQCTL or AT_BROKER_*_CMD)")
        broker_stop, broker_start = controls
        c = self.consumer(CONSUMER_WORKERS=2, AMQP_HEARTBEAT_S=5)
        self.broker.publish(h.message(i) for i in range(1000))
        h.wait_until(lambda: self.database.count() == 1000, 60, "first 1000")
        self.broker.publish(h.message(i) for i in range(1000, 3000))
        started = False
        try:
            broker_stop()
            h.wait_until(lambda: c.metric("activity_consumer_workers_connected") == 0, 30,
                         "workers to notice the broker is gone")
            time.sleep(3)
            broker_start()
            started = True
        finally:
            if not started:
                broker_start()
        self.broker.conn = None
        h.wait_until(lambda: c.metric("activity_consumer_workers_connected") == 2, 90,
                     "both workers reconnected", interval=0.5)
        self.broker.publish(h.message(i) for i in range(3000, 4000))
        h.wait_until(lambda: self.database.count() == 4000, 120, "4000 documents", interval=0.5)
        self.assertTrue(c.alive())
        self.assertGreaterEqual(c.metric("activity_consumer_reconnects_total"), 2)
        self.assertEqual(c.stop(), 0)
        self.assert_settled(4000)


if __name__ == "__main__":
    h.main()
