"""Failover on a real 3-node RabbitMQ cluster (scripts/cluster.sh: rmq1..3@localhost, AMQP
127.0.0.1:5681..5683, management 15681..15683), with nodes killed -9 under load and restarted.

Proven here:
- activity-api (RABBITMQ_URL = the three nodes, a fresh quorum queue) under a steady load of POSTs
  with client-chosen ids (12 threads, ~240/s, each from its own loopback address), in two runs:
  (a) the leader on rmq3, the API on rmq1: rmq1 (the API's node) is killed -9 and restarted
  under load, then rmq3 (the leader's node) is killed -9 under a connection that stays up;
  (b) the API's node holds the leader (the API declared the queue there) and is killed -9: the API
  is on another node within milliseconds, while the queue is still electing a new leader.
  In both: the API never dies and never refuses a connection, answers nothing but 202 and 503,
  every 202'd id is in the queue (at least once; duplicates from republishing are counted and
  reported) and no unknown id is, and new requests are never refused (503) for longer than
  API_MAX_503_S in a row. Reported: the longest 503 stretch, the failover time from the API's
  log, latency p50/p99/max during the failovers, activity_api_republished_total, duplicates.
- a classic queue (RABBITMQ_QUEUE_TYPE=classic) on the cluster keeps working when the node the API
  is connected to — not the queue's own node — is killed: the connection fails over, the queue
  does not move, and no 202'd event is lost.
- activity-consumer (2 workers, the three URLs, the quorum queue) while events are published by
  pika throughout and the node each worker is connected to is killed -9 and restarted: every
  published id is stored in MongoDB exactly once, nothing is dead-lettered, the workers reconnect.

Measured figures are printed as `FAILOVER-METRIC name=value` lines (stderr) and appended to
<build>/integration-logs/failover-metrics.txt so they can be quoted.

The module brings the cluster up (`scripts/cluster.sh up`, idempotent) and leaves it running
(scripts/test.sh stops it); every test restarts what it killed, also on failure. Exit 77 (ctest:
skipped) when the cluster cannot be run here: AT_LOCAL_SERVICES=0 (the compose stack is under
test), scripts/cluster.sh missing, rabbitmq-server not installed, not root (the script needs it),
python3-pymongo missing. Importing harness also needs
the single-node broker of scripts/services.sh (as every integration suite does)."""

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
import uuid

import harness
from harness import ApiProcess, new_activity, next_source_address

CLUSTER_SH = os.path.join(harness.SOURCE_DIR, "scripts", "cluster.sh")
NODES = (1, 2, 3)
ROUTE = "/api/v1/activities"


def _skip(reason):
    print(f"SKIP: {reason}", file=sys.stderr)
    sys.exit(harness.SKIP)


if os.environ.get("AT_LOCAL_SERVICES") == "0":
    _skip("the services under test are not this machine's (AT_LOCAL_SERVICES=0): this suite kills "
          "nodes of scripts/cluster.sh's loopback cluster; scripts/cluster-smoke.sh covers the "
          "compose cluster")
if not os.access(CLUSTER_SH, os.X_OK):
    _skip(f"{CLUSTER_SH} is missing or not executable")
if not (shutil.which("rabbitmq-server") or os.access("/usr/sbin/rabbitmq-server", os.X_OK)):
    _skip("rabbitmq-server is not installed: no cluster can be started here")
if os.geteuid() != 0:
    _skip("scripts/cluster.sh needs root (its nodes run as the rabbitmq user)")

import consumer_harness as ch  # noqa: E402  (after the skips: it needs pika and pymongo)

if ch.pymongo is None:
    _skip("python3-pymongo is not installed")

import pika  # noqa: E402

API_MAX_503_S = 5.0       # asserted bound on the longest stretch of 503s
CLUSTER_UP_TIMEOUT = 300  # cold start of three nodes on a small machine
NODE_START_TIMEOUT = 180  # `cluster.sh start N` (it bounds each of its own waits as well)
RECOVERY_TIMEOUT = 60     # a client of the cluster back on another node

METRICS_FILE = os.path.join(harness.BUILD_DIR, "integration-logs", "failover-metrics.txt")


# ---- the cluster ---------------------------------------------------------------------------------

def cluster(*args, timeout=NODE_START_TIMEOUT, check=True):
    """Runs scripts/cluster.sh with args; returns its stdout (fails with its output)."""
    try:
        proc = subprocess.run([CLUSTER_SH, *args], stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"scripts/cluster.sh {' '.join(args)} did not finish within "
                             f"{timeout}s:\n{exc.stdout or ''}{exc.stderr or ''}")
    if check and proc.returncode != 0:
        raise AssertionError(f"scripts/cluster.sh {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout}{proc.stderr}")
    return proc.stdout


def node_url(n):
    return f"amqp://guest:guest@127.0.0.1:{5680 + n}/"


def urls(order=NODES):
    return ",".join(node_url(n) for n in order)


def node_of_addr(addr):
    """The node number of a "host:port" broker address (port 568N is node N)."""
    m = re.fullmatch(r".*:568([1-3])", addr or "")
    return int(m[1]) if m else None


def node_of_name(name):
    m = re.fullmatch(r"rmq([1-3])@.*", name or "")
    return int(m[1]) if m else None


def mgmt(n, path, timeout=5.0):
    """GET path of node n's management API; parsed JSON, or None when it does not answer."""
    req = urllib.request.Request(f"http://127.0.0.1:{15680 + n}{path}")
    req.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read() or b"null")
    except (OSError, ValueError, urllib.error.HTTPError):
        return None


def mgmt_any(path, prefer=NODES):
    for n in prefer:
        out = mgmt(n, path)
        if out is not None:
            return out
    return None


def queue_info(queue):
    return mgmt_any("/api/queues/%2F/" + urllib.parse.quote(queue, safe=""))


def pika_connect(nodes=NODES, name="activity-tracker failover tests"):
    """A blocking pika connection to the first of nodes that answers."""
    last = None
    for n in nodes:
        params = pika.URLParameters(node_url(n))
        params.connection_attempts = 1
        params.socket_timeout = 5
        params.blocked_connection_timeout = 30
        params.client_properties = {"connection_name": name}
        try:
            return pika.BlockingConnection(params), n
        except pika.exceptions.AMQPError as exc:
            last = exc
    raise AssertionError(f"no node of the cluster accepts AMQP connections: {last!r}")


def delete_queues(*queues):
    try:
        conn, _ = pika_connect()
    except AssertionError as exc:
        print(f"warning: could not delete {queues}: {exc}", file=sys.stderr)
        return
    try:
        for q in queues:
            try:
                conn.channel().queue_delete(q)
            except pika.exceptions.AMQPError:
                pass
    finally:
        try:
            conn.close()
        except Exception:  # noqa: BLE001 - best-effort cleanup
            pass


def queue_depth(queue):
    conn, _ = pika_connect()
    try:
        return conn.channel().queue_declare(queue, passive=True).method.message_count
    finally:
        conn.close()


def drain_message_ids(queue, expect, timeout=90.0):
    """Consumes every message of queue (auto-ack) until expect are read and a second passes
    without more, or timeout; returns their message_ids (repeats included)."""
    conn, _ = pika_connect()
    ids = []
    deadline = time.monotonic() + timeout
    try:
        chan = conn.channel()
        for method, props, _ in chan.consume(queue, auto_ack=True, inactivity_timeout=1.0):
            if method is None:
                if len(ids) >= expect or time.monotonic() >= deadline:
                    break
                continue
            ids.append(props.message_id)
            if time.monotonic() >= deadline:
                break
        chan.cancel()
    finally:
        conn.close()
    return ids


def wait_quorum_online(queue, count=3, timeout=RECOVERY_TIMEOUT):
    """Until the quorum queue has count members online (a restarted node's member caught up)."""
    def online():
        info = queue_info(queue) or {}
        return len(info.get("online") or []) >= count and info.get("leader")
    ch.wait_until(online, timeout, f"queue {queue} with {count} members online", interval=0.5)


def report(name, value):
    line = f"FAILOVER-METRIC {name}={value}"
    print(line, file=sys.stderr, flush=True)
    try:
        os.makedirs(os.path.dirname(METRICS_FILE), exist_ok=True)
        with open(METRICS_FILE, "a") as f:
            f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {line}\n")
    except OSError:
        pass


def percentile(values, p):
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))]


class KilledNodes:
    """Kills and restarts nodes; restart_all() brings back whatever is still down (cleanup)."""

    def __init__(self):
        self.down = set()
        self.threads = []
        self.errors = []
        self.took = {}

    def kill(self, n):
        """`cluster.sh kill n`; returns the time just before the command ran."""
        t = time.monotonic()
        self.down.add(n)
        cluster("kill", str(n), timeout=60)
        return t

    def start(self, n):
        """`cluster.sh start n`; returns how long it took."""
        t = time.monotonic()
        cluster("start", str(n))
        self.down.discard(n)
        return time.monotonic() - t

    def start_in_background(self, n):
        """Starts node n in a thread (while the test checks its results); join() waits for it."""
        def run():
            try:
                self.took[n] = self.start(n)
            except BaseException as exc:  # noqa: BLE001 - raised by join()
                self.errors.append(exc)
        t = threading.Thread(target=run, daemon=True)
        t.start()
        self.threads.append(t)

    def join(self):
        """Waits for the background starts; raises the first failure. Returns {node: seconds}."""
        for t in self.threads:
            t.join(NODE_START_TIMEOUT + 10)
        self.threads = [t for t in self.threads if t.is_alive()]
        if self.threads:
            raise AssertionError("a background `cluster.sh start` did not finish")
        if self.errors:
            raise self.errors.pop(0)
        return dict(self.took)

    def restart_all(self):
        try:
            self.join()
        finally:
            if self.down:
                cluster("up", timeout=CLUSTER_UP_TIMEOUT)
                self.down.clear()


def setUpModule():
    t = time.monotonic()
    cluster("up", timeout=CLUSTER_UP_TIMEOUT)
    print(f"\ncluster up in {time.monotonic() - t:.1f}s", file=sys.stderr)


# ---- the API side --------------------------------------------------------------------------------

def api_metrics(api):
    """{series: value} of the API's /metrics ("name{labels}" keys)."""
    out = {}
    for line in api.get("/metrics", timeout=5).body.decode().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            try:
                out[key] = float(value)
            except ValueError:
                pass
    return out


def api_broker(api):
    """(amqp state, node number) from the API's /health; (None, None) when it does not answer."""
    try:
        body = api.get("/health", timeout=2).json()
    except (OSError, ValueError):
        return None, None
    return body.get("amqp"), node_of_addr(body.get("broker"))


def api_failovers(api):
    """[(lost, connected again)] from the API's log, as time.monotonic() values (the log's ts is
    UTC wall time to the millisecond): the API's own view of each failover."""
    import datetime
    offset = time.time() - time.monotonic()
    out, lost = [], None
    for line in api.log_text().splitlines():
        try:
            obj = json.loads(line)
            ts = datetime.datetime.fromisoformat(obj["ts"].replace("Z", "+00:00")).timestamp()
        except (ValueError, KeyError, TypeError):
            continue
        msg = obj.get("msg", "")
        if msg.startswith("broker connection lost"):
            lost = ts - offset
        elif msg.startswith("connected to the broker") and lost is not None:
            out.append((lost, ts - offset))
            lost = None
    return out


class Load:
    """Steady POSTs with client-chosen ids from `threads` threads, each from its own loopback
    address on a new connection per request, each paced at `rate` requests per second. Records
    (sent, done, outcome, id) for every request; outcome is the status, or a string for a
    transport error or a malformed answer."""

    def __init__(self, port, threads=12, rate=20.0):
        self.port = port
        self.threads = threads
        self.interval = 1.0 / rate
        self.records = []
        self.stop_event = threading.Event()
        self._threads = []

    def _run(self, source):
        next_t = time.monotonic()
        while not self.stop_event.is_set():
            eid = str(uuid.uuid4())
            sent = time.monotonic()
            try:
                resp = harness.http_request(self.port, "POST", ROUTE, body=new_activity(id=eid),
                                            headers={"Content-Type": "application/json"},
                                            source=source, timeout=20)
                outcome = resp.status
                if outcome == 202 and resp.json().get("id") != eid:
                    outcome = f"202 with another id: {resp!r}"
                elif outcome == 503 and not (resp.header("Retry-After") or "").strip().isdigit():
                    outcome = f"503 without Retry-After: {resp!r}"
            except Exception as exc:  # noqa: BLE001 - every failure is a finding
                outcome = f"{type(exc).__name__}: {exc}"
            self.records.append((sent, time.monotonic(), outcome, eid))
            next_t += self.interval
            now = time.monotonic()
            if next_t > now:
                time.sleep(next_t - now)
            else:
                next_t = now  # late after a stall: go on at the pace, no burst

    def start(self):
        for _ in range(self.threads):
            t = threading.Thread(target=self._run, args=(next_source_address(),), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self, timeout=30.0):
        self.stop_event.set()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    def accepted_since(self, t):
        return sum(1 for r in list(self.records) if r[0] >= t and r[2] == 202)

    def analyse(self):
        recs = sorted(self.records)
        accepted = {r[3] for r in recs if r[2] == 202}
        refused = {r[3] for r in recs if r[2] == 503}
        odd = [r for r in recs if r[2] not in (202, 503)]
        # Longest stretch of 503s: from the sending of the first request of a run of 503s (in
        # sending order) to the sending of the next request that was accepted.
        longest, run_start = 0.0, None
        for sent, done, outcome, _ in recs:
            if outcome == 503:
                if run_start is None:
                    run_start = sent
            elif outcome == 202 and run_start is not None:
                longest = max(longest, sent - run_start)
                run_start = None
        if run_start is not None:
            longest = max(longest, max(r[1] for r in recs) - run_start)
        # Longest time without any 202 answer at all (503s and stalled requests alike), the end
        # of the run included.
        marks = sorted(r[1] for r in recs if r[2] == 202) + [max((r[1] for r in recs), default=0)]
        gap = max((b - a for a, b in zip(marks, marks[1:])), default=0.0)
        return {"records": recs, "accepted": accepted, "refused": refused, "odd": odd,
                "longest_503": longest, "longest_no_202": gap}


class ApiClusterTestCase(unittest.TestCase):
    """Runs activity-api processes against the cluster; kills them, restarts killed nodes and
    deletes the queues at cleanup; prints the API logs when a test fails."""

    def setUp(self):
        self.nodes = KilledNodes()
        self.apis = []
        self.queues = []
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        for api in self.apis:
            api.kill()
        try:
            self.nodes.restart_all()
        finally:
            for q in self.queues:
                delete_queues(q, q + ".dlq")

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        outcome = super().run(result)
        if len(result.failures) + len(result.errors) > before:
            for api in getattr(self, "apis", []):
                print(f"\n{api.log_tail(80)}", file=sys.stderr)
        return outcome

    def api(self, name, queue, env, start=True):
        api = ApiProcess(f"{type(self).__name__}.{name}", queue=queue, env=env)
        self.apis.append(api)
        if queue not in self.queues:
            self.queues.append(queue)
        return api.start(ready_timeout=60) if start else api

    def declare_on(self, node, queue, queue_type):
        """Has a short-lived API connected to node alone declare queue (and its DLQ) with the
        service's own arguments: the queue's home (classic) or leader (quorum) is node."""
        api = self.api(f"declarer-{node}", queue, {"RABBITMQ_URL": node_url(node),
                                                    "RABBITMQ_QUEUE_TYPE": queue_type})
        self.assertEqual(api.stop(), 0, api.log_tail())

    def wait_api_on_other_node(self, api, dead):
        """Until the API is connected to a node other than dead; returns (node, seconds)."""
        t = time.monotonic()

        def moved():
            state, node = api_broker(api)
            return node if state == "connected" and node not in (None, dead) else None
        node = ch.wait_until(moved, RECOVERY_TIMEOUT,
                             f"the API connected to another node than rmq{dead}", interval=0.05)
        return node, time.monotonic() - t

    def failovers_of(self, api):
        """api_failovers(api), which must have found at least one."""
        failovers = api_failovers(api)
        self.assertTrue(failovers, "no `broker connection lost` ... `connected` in the API log")
        return failovers

    def assert_load_outcome(self, load, api, queue, label):
        """The assertions every load run shares; returns the analysis with the drained ids."""
        a = load.analyse()
        recs = a["records"]
        self.assertTrue(api.alive(), f"activity-api died\n{api.log_tail()}")
        self.assertEqual(a["odd"][:10], [],
                         f"{len(a['odd'])} answers other than 202/503 or transport errors "
                         f"(the API must never refuse a connection) of {len(recs)}")
        self.assertGreater(len(a["accepted"]), 0)
        m = api_metrics(api)
        a["republished"] = int(m.get("activity_api_republished_total", 0))
        a["losses"] = int(m.get("activity_api_amqp_connection_losses_total", 0))
        a["refusal_reconnects"] = int(m.get("activity_api_amqp_refusal_reconnects_total", 0))
        a["results"] = {k.split('"')[1]: int(v) for k, v in m.items()
                        if k.startswith("activity_api_publish_results_total{")}
        self.assertEqual(api.stop(timeout=30), 0, api.log_tail())
        self.assertEqual(api.log_problems()[:10], [])

        depth = queue_depth(queue)
        ids = drain_message_ids(queue, depth)
        got = set(ids)
        sent = {r[3] for r in recs}
        missing = a["accepted"] - got
        self.assertEqual(len(missing), 0, f"{len(missing)} 202'd ids are not in the queue, e.g. "
                                          f"{sorted(missing)[:5]}")
        unknown = got - sent
        self.assertEqual(unknown, set(), "the queue holds ids nobody sent")
        a["duplicates"] = len(ids) - len(got)
        a["refused_but_queued"] = len(a["refused"] & got)
        print(f"\n[{label}] {len(recs)} requests: {len(a['accepted'])} × 202, "
              f"{len(a['refused'])} × 503; queue: {len(ids)} messages, {len(got)} distinct, "
              f"{a['duplicates']} duplicates, {a['refused_but_queued']} of the 503'd ids queued "
              f"as well (allowed: a client retries them with the same id)", file=sys.stderr)
        return a


class ClusterApiFailover(ApiClusterTestCase):
    API_ENV = {"RABBITMQ_URL": urls(), "RABBITMQ_QUEUE_TYPE": "quorum",
               "RATE_LIMIT_MAX_REQUESTS": "100000", "RATE_LIMIT_MAX_CLIENTS": "64"}

    def leader(self, queue):
        return int(cluster("leader", queue, timeout=60).strip())

    def wait_accepting_since(self, load, t, timeout):
        """Until a request sent after t was answered 202; False after timeout (no failure here:
        the 503 figures of the analysis tell how long it took)."""
        try:
            ch.wait_until(lambda: load.accepted_since(t), timeout, "a 202", interval=0.1)
            return True
        except AssertionError:
            return False

    def report_run(self, prefix, a, t_from, t_to, t_lost):
        """Prints and reports the figures of a run; asserts the 503 bound."""
        recs = a["records"]
        during = [r[1] - r[0] for r in recs if t_from <= r[0] <= t_to]
        during_202 = [r[1] - r[0] for r in recs if t_from <= r[0] <= t_to and r[2] == 202]
        # Requests in flight when the API lost its node that were answered 202: their messages
        # were unconfirmed on the lost connection, so (unless confirmed just before) republished.
        spanning = sum(1 for r in recs if r[0] <= t_lost <= r[1] and r[2] == 202)
        report(f"{prefix}_longest_503_s", f"{a['longest_503']:.2f}")
        report(f"{prefix}_longest_no_202_s", f"{a['longest_no_202']:.2f}")
        report(f"{prefix}_requests", len(recs))
        report(f"{prefix}_accepted", len(a["accepted"]))
        report(f"{prefix}_503", len(a["refused"]))
        report(f"{prefix}_republished_total", a["republished"])
        report(f"{prefix}_refusal_reconnects_total", a["refusal_reconnects"])
        report(f"{prefix}_202_in_flight_at_connection_loss", spanning)
        report(f"{prefix}_queue_duplicates", a["duplicates"])
        report(f"{prefix}_latency_p50_during_failovers_ms", f"{percentile(during, 50) * 1000:.0f}")
        report(f"{prefix}_latency_p99_during_failovers_ms", f"{percentile(during, 99) * 1000:.0f}")
        report(f"{prefix}_latency_p99_202_during_failovers_ms",
               f"{percentile(during_202, 99) * 1000:.0f}")
        report(f"{prefix}_latency_max_during_failovers_ms",
               f"{max(during, default=0) * 1000:.0f}")
        self.assertGreaterEqual(a["losses"], 1, "the API never lost its connection: no failover")
        self.assertLessEqual(
            a["longest_503"], API_MAX_503_S,
            f"new requests were refused for {a['longest_503']:.1f}s in a row (publish results: "
            f"{a['results']}; see the API log above)")

    def test_cluster_api_quorum_queue_survives_kill_of_its_node_then_of_the_leader(self):
        """The leader on rmq3, the API on rmq1 (first of its list). First the API's node (a
        follower) dies: the connection fails over and the unconfirmed messages are republished.
        Then, with rmq1 back, the leader's node dies under a connection that stays up: the queue
        elects a new leader. (In this order each failure mode is met alone, every run: after a
        restart the leader lands on any node, and on the API's own node it is the next test.)"""
        queue = harness.new_queue_name()
        self.declare_on(3, queue, "quorum")
        api = self.api("api", queue, self.API_ENV)
        wait_quorum_online(queue)
        self.assertEqual(self.leader(queue), 3)
        self.assertEqual(api_broker(api), ("connected", 1))
        load = Load(api.port, threads=12, rate=20.0).start()
        try:
            time.sleep(3)
            self.assertGreater(load.accepted_since(0), 100, "no steady load before the kills")

            t_first = self.nodes.kill(1)
            new_node, _ = self.wait_api_on_other_node(api, 1)
            self.wait_accepting_since(load, time.monotonic(), RECOVERY_TIMEOUT)
            time.sleep(1)
            restart1 = self.nodes.start(1)  # under load: a node rejoining must not hurt
            wait_quorum_online(queue)

            self.assertEqual(self.leader(queue), 3, "the leader moved without a failure")
            self.assertNotEqual(api_broker(api)[1], 3)
            self.nodes.kill(3)
            time.sleep(1)
            self.wait_accepting_since(load, time.monotonic(), RECOVERY_TIMEOUT)
            time.sleep(2)
            t_end = time.monotonic()
        finally:
            self.assertTrue(load.stop(), "load threads did not finish")
        self.nodes.start_in_background(3)  # while the results are checked

        a = self.assert_load_outcome(load, api, queue, "quorum")
        t_lost, t_back = self.failovers_of(api)[0]
        restart3 = self.nodes.join().get(3, 0.0)
        print(f"rmq1 (API's node) killed: API on rmq{new_node} {t_back - t_lost:.3f}s after it "
              f"saw the loss, rmq1 restarted under load in {restart1:.1f}s; rmq3 (leader) "
              f"killed, new leader rmq{self.leader(queue)}, rmq3 restarted in {restart3:.1f}s",
              file=sys.stderr)
        report("api_failover_s", f"{t_back - t_lost:.3f}")
        self.report_run("api", a, t_first, t_end, t_lost)

    def test_cluster_api_quorum_queue_survives_kill_of_its_node_holding_the_leader(self):
        """The API's node holds the queue's leader (the API declared the queue there) and dies:
        the API is connected to another node within milliseconds, while the queue is still
        electing its new leader; service must resume within API_MAX_503_S."""
        queue = harness.new_queue_name()
        api = self.api("api", queue, self.API_ENV)
        wait_quorum_online(queue)
        self.assertEqual(self.leader(queue), 1)
        self.assertEqual(api_broker(api), ("connected", 1))
        load = Load(api.port, threads=12, rate=20.0).start()
        try:
            time.sleep(3)
            self.assertGreater(load.accepted_since(0), 100, "no steady load before the kill")
            t_kill = self.nodes.kill(1)
            new_node, _ = self.wait_api_on_other_node(api, 1)
            # Bounded: a run that never recovers is measured, then fails on the 503 bound.
            self.wait_accepting_since(load, time.monotonic(), 2 * API_MAX_503_S)
            time.sleep(2)
            t_end = time.monotonic()
        finally:
            self.assertTrue(load.stop(), "load threads did not finish")
        self.nodes.start_in_background(1)

        a = self.assert_load_outcome(load, api, queue, "quorum, leader on the API's node")
        t_lost, t_back = self.failovers_of(api)[0]
        restart1 = self.nodes.join().get(1, 0.0)
        print(f"rmq1 (API's node and leader) killed: API on rmq{new_node} "
              f"{t_back - t_lost:.3f}s after it saw the loss, new leader rmq{self.leader(queue)}"
              f", rmq1 restarted in {restart1:.1f}s; publish results {a['results']}",
              file=sys.stderr)
        report("api_leader_node_failover_s", f"{t_back - t_lost:.3f}")
        self.report_run("api_leader_node", a, t_kill, t_end, t_lost)


class ClusterClassicQueue(ApiClusterTestCase):

    def test_cluster_classic_queue_survives_connection_failover(self):
        queue = harness.new_queue_name()
        self.declare_on(3, queue, "classic")
        home = node_of_name((queue_info(queue) or {}).get("node"))
        self.assertEqual(home, 3, f"classic queue {queue} is not on rmq3: {queue_info(queue)}")
        api = self.api("api", queue, {
            "RABBITMQ_URL": urls(), "RABBITMQ_QUEUE_TYPE": "classic",
            "RATE_LIMIT_MAX_REQUESTS": "100000", "RATE_LIMIT_MAX_CLIENTS": "64"})
        _, api_node = api_broker(api)
        self.assertNotIn(api_node, (None, home), "the API must be on another node than the queue")
        load = Load(api.port, threads=6, rate=20.0).start()
        try:
            time.sleep(2)
            t_kill = self.nodes.kill(api_node)
            new_node, _ = self.wait_api_on_other_node(api, api_node)
            reconnect_s = time.monotonic() - t_kill
            time.sleep(3)
            self.assertGreater(load.accepted_since(time.monotonic() - 2), 0,
                               "no 202 after the failover")
        finally:
            self.assertTrue(load.stop(), "load threads did not finish")
        self.nodes.start_in_background(api_node)
        a = self.assert_load_outcome(load, api, queue, "classic")
        self.assertEqual(node_of_name((queue_info(queue) or {}).get("node")), home,
                         "the classic queue moved")
        self.nodes.join()
        failovers = self.failovers_of(api)
        failover_s = max(b - a for a, b in failovers)
        print(f"classic queue on rmq{home}; API moved rmq{api_node} -> rmq{new_node} "
              f"{failover_s:.3f}s after it saw the loss ({reconnect_s:.2f}s after `cluster.sh "
              f"kill` began)", file=sys.stderr)
        report("classic_api_longest_503_s", f"{a['longest_503']:.2f}")
        report("classic_api_failover_s", f"{failover_s:.3f}")
        report("classic_api_republished_total", a["republished"])
        self.assertLessEqual(a["longest_503"], API_MAX_503_S)


# ---- the consumer side ---------------------------------------------------------------------------

class Publisher:
    """Publishes distinct events to queue with pika and publisher confirms, paced, from its own
    connection that fails over between the nodes (in the order given); a message whose confirm
    was lost with a connection is published again with the same id. `ids` holds every id the
    broker confirmed."""

    def __init__(self, queue, order, rate=120.0):
        self.queue = queue
        self.order = list(order)
        self.interval = 1.0 / rate
        self.ids = []
        self.resent = 0
        self.failovers = 0
        self.error = None
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _connect(self, deadline):
        while True:
            try:
                conn, _ = pika_connect(self.order, name="activity-tracker failover publisher")
                chan = conn.channel()
                chan.confirm_delivery()
                return conn, chan
            except (AssertionError, pika.exceptions.AMQPError):
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.2)

    def _run(self):
        props = lambda eid: pika.BasicProperties(  # noqa: E731
            content_type="application/json", delivery_mode=2, message_id=eid,
            app_id="failover-it")
        conn = chan = None
        i = 0
        pending = None  # (eid, body) not yet confirmed
        next_t = time.monotonic()
        try:
            while not self.stop_event.is_set() or pending is not None:
                if pending is None:
                    eid = str(uuid.uuid4())
                    pending = (eid, ch.message(i, event_id=eid))
                    i += 1
                if chan is None:
                    conn, chan = self._connect(time.monotonic() + RECOVERY_TIMEOUT)
                try:
                    chan.basic_publish("", self.queue, pending[1], props(pending[0]),
                                       mandatory=True)
                    self.ids.append(pending[0])
                    pending = None
                except (pika.exceptions.NackError, pika.exceptions.UnroutableError):
                    self.resent += 1
                    time.sleep(0.05)
                except (pika.exceptions.AMQPError, OSError):
                    # Lost with the connection: outcome unknown, publish it again elsewhere.
                    self.resent += 1
                    self.failovers += 1
                    try:
                        conn.close()
                    except Exception:  # noqa: BLE001 - it is gone already
                        pass
                    conn = chan = None
                    continue
                next_t += self.interval
                now = time.monotonic()
                if next_t > now:
                    time.sleep(next_t - now)
                else:
                    next_t = now
        except BaseException as exc:  # noqa: BLE001 - reported by stop()
            self.error = exc
        finally:
            if conn is not None:
                try:
                    conn.close()
                except Exception:  # noqa: BLE001
                    pass

    def start(self):
        self.thread.start()
        return self

    def stop(self, timeout=RECOVERY_TIMEOUT + 10):
        self.stop_event.set()
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise AssertionError("the publisher did not finish")
        if self.error is not None:
            raise AssertionError(f"the publisher failed: {self.error!r}")


class ConnectedMonitor:
    """Samples the consumer's activity_consumer_workers_connected every 50 ms."""

    def __init__(self, consumer):
        self.consumer = consumer
        self.samples = []
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        url = "http://127.0.0.1:%d/metrics" % self.consumer.metrics_port
        while not self.stop_event.is_set():
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    text = r.read().decode()
                m = re.search(r"^activity_consumer_workers_connected ([0-9.]+)$", text, re.M)
                if m:
                    self.samples.append((time.monotonic(), float(m[1])))
            except OSError:
                pass
            time.sleep(0.05)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stop_event.set()
        self.thread.join(10)

    def longest_gap(self, below=1):
        """Longest time (s) the samples showed fewer than `below` workers connected."""
        longest, start = 0.0, None
        for t, v in self.samples:
            if v < below:
                start = t if start is None else start
            elif start is not None:
                longest, start = max(longest, t - start), None
        if start is not None and self.samples:
            longest = max(longest, self.samples[-1][0] - start)
        return longest


def worker_nodes():
    """{worker number: node number} of the consumer's connections, from the management API."""
    out = {}
    for c in mgmt_any("/api/connections?columns=name,node,client_properties") or []:
        name = ((c.get("client_properties") or {}).get("connection_name") or "")
        m = re.fullmatch(r"activity-consumer worker-(\d+)", name)
        if m and node_of_name(c.get("node")):
            out[int(m[1])] = node_of_name(c.get("node"))
    return out


class ClusterConsumerFailover(unittest.TestCase):
    WORKERS = 2
    EVENTS = 3000  # at least, published during the whole test

    def setUp(self):
        why = ch.endpoints_missing()
        if why:
            self.skipTest(why)
        tag = uuid.uuid4().hex[:10]
        self.queue = "it_cluster_" + tag
        self.dbname = "at_cluster_it_" + tag
        self.nodes = KilledNodes()
        self.database = ch.Database(self.dbname)
        self.consumer = None
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        if self.consumer is not None:
            if self._failed():
                print("---- consumer log ----\n%s" % self.consumer.logs()[-8000:], file=sys.stderr)
            self.consumer.cleanup()
        try:
            self.nodes.restart_all()
        finally:
            delete_queues(self.queue, self.queue + ".dlq")
            self.database.drop()

    def _failed(self):
        outcome = getattr(self, "_outcome", None)
        result = getattr(outcome, "result", None)
        return bool(result and (result.failures or result.errors))

    def connected(self):
        return self.consumer.metric("activity_consumer_workers_connected")

    def logged_node(self, worker):
        """The node of worker's latest connection according to the consumer's log."""
        node = None
        for line in self.consumer.log_lines():
            msg = line.get("msg", "")
            if line.get("thread") == f"worker-{worker}" and msg.startswith("connected to the"):
                m = re.search(r"127\.0\.0\.1:568([1-3])\b", msg)
                node = int(m[1]) if m else node
        return node

    def test_cluster_consumer_stores_each_event_once_across_node_kills(self):
        self.consumer = ch.Consumer(self.queue, self.dbname, RABBITMQ_URL=urls(),
                                    RABBITMQ_QUEUE_TYPE="quorum",
                                    CONSUMER_WORKERS=str(self.WORKERS)).start()
        ch.wait_until(lambda: self.connected() == self.WORKERS, 60, "both workers connected")
        wait_quorum_online(self.queue)
        monitor = ConnectedMonitor(self.consumer).start()
        # The publisher prefers rmq3, the workers rmq1 (the first URL): it fails over too if
        # its node is killed.
        pub = Publisher(self.queue, order=(3, 2, 1), rate=250.0).start()
        killed = []
        try:
            ch.wait_until(lambda: self.database.count() >= 300, 60,
                          "300 events stored before the kills", interval=0.5)
            # Kill the node of a worker that has not lost its connection yet, until each has:
            # one kill when the workers share a node (they prefer the same first URL).
            untouched = set(range(1, self.WORKERS + 1))
            while untouched:
                worker = min(untouched)
                # The management API's connection list, once it agrees with the worker's own
                # latest "connected to the broker" log line (the list can lag behind a reconnect).
                node = ch.wait_until(lambda: (lambda m, l: m if m is not None and m == l else None)(
                    worker_nodes().get(worker), self.logged_node(worker)), 30,
                    f"worker-{worker}'s current connection in the management API")
                on_it = {w for w in untouched if self.logged_node(w) == node}
                print(f"\nworkers {sorted(on_it)} on rmq{node}: kill -9", file=sys.stderr)
                self.nodes.kill(node)
                killed.append(node)
                untouched -= on_it
                ch.wait_until(lambda: self.connected() == self.WORKERS, RECOVERY_TIMEOUT,
                              f"every worker connected again after the kill of rmq{node}",
                              interval=0.1)
                if untouched:  # the next kill needs this node back (a quorum of the queue)
                    time.sleep(1)
                    self.nodes.start(node)
                    wait_quorum_online(self.queue)
                else:
                    self.nodes.start_in_background(node)
            t_kills = time.monotonic()
            # Publishing goes on for a while with the workers on their new node.
            ch.wait_until(
                lambda: len(pub.ids) >= self.EVENTS and time.monotonic() - t_kills >= 3, 60,
                f"{self.EVENTS} events published", interval=0.2)
        finally:
            pub.stop()
            monitor.stop()
        self.nodes.join()

        total = len(pub.ids)
        self.assertGreaterEqual(total, self.EVENTS)
        ch.wait_until(lambda: self.database.count() >= total, 120,
                      f"{total} events stored", interval=1)
        time.sleep(1)  # a late duplicate would show now (it cannot: _id is unique)
        self.assertTrue(self.consumer.alive(), "the consumer must survive the node kills")
        stored = {d["_id"] for d in self.database.coll.find({}, {"_id": 1})}
        self.assertEqual(self.database.count(), total)
        self.assertEqual(stored, set(pub.ids), "the stored ids differ from the published ones")
        self.assertEqual(len(set(pub.ids)), total)
        self.assertEqual(queue_depth(self.queue + ".dlq"), 0, "events were dead-lettered")
        self.assertEqual(queue_depth(self.queue), 0)
        reconnects = self.consumer.metric("activity_consumer_reconnects_total")
        self.assertGreaterEqual(reconnects, len(killed))
        self.assertEqual(self.consumer.stop(), 0)

        gap = monitor.longest_gap(below=1)
        partial = monitor.longest_gap(below=self.WORKERS)
        print(f"published {total} (re-sent {pub.resent} after {pub.failovers} publisher "
              f"failovers), killed {['rmq%d' % n for n in killed]}, {int(reconnects)} worker "
              f"reconnects", file=sys.stderr)
        report("consumer_longest_gap_s", f"{gap:.2f}")
        report("consumer_longest_partial_gap_s", f"{partial:.2f}")
        report("consumer_reconnects_total", int(reconnects))
        report("consumer_events", total)


if __name__ == "__main__":
    unittest.main()
