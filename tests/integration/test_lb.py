"""Three activity-api replicas behind HAProxy (DESIGN §6a): `balance source` with `hash-type
consistent`, health checks on /ready, and the balancer REPLACING any client-sent X-Forwarded-For
with the client's address; every replica trusts the balancer (TRUST_PROXY_CIDRS=127.0.0.1/32).

Proven here, through the balancer:
- one client address meets one replica and its exact limiter: 60 POSTs give exactly 50 × 202 and
  10 × 429 (each with Retry-After), all 50 events in that one replica's queue;
- forging X-Forwarded-For gains no quota: a fixed forged address, a ~1 KB forged first header
  line, and — the case that tells replacing from appending — a client on the balancer's own
  (trusted) address forging a new address on every request: each still gets exactly 50;
- consistent hashing: after one replica is SIGKILLed and HAProxy marks it DOWN, only the client
  addresses that were on it move (to the survivors, still answered 202); the others stay where
  they were; once it is back (same port, same queue) every address is where it was at first.

Which replica served a request is read from the replicas themselves: each has its own queue, and
each POST carries a client-chosen `id`, found afterwards as the message_id in one queue.

Needs Debian's haproxy (scripts/test.sh installs it; exit 77 when it is missing) and the
single-node broker of scripts/services.sh (harness.RABBITMQ_URL). HAProxy and the replicas are
stopped in the class cleanup, also when a test or the set-up fails."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

import harness
from harness import ApiProcess, ApiTestCase, new_activity, next_source_address

HAPROXY = shutil.which("haproxy") or next(
    (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if os.access(p, os.X_OK)), None)
if HAPROXY is None:
    print("SKIP: haproxy is not installed (scripts/test.sh installs Debian's haproxy)",
          file=sys.stderr)
    sys.exit(harness.SKIP)

ROUTE = "/api/v1/activities"
REPLICAS = 3
LIMIT = 50
STATE_TIMEOUT = 15.0  # bound on every wait for HAProxy to see a replica UP or DOWN


class HAProxy:
    """haproxy in the foreground (-db) with a configuration written to a temporary directory, a
    frontend on a free port of 127.0.0.1 and an admin socket to read the servers' states."""

    def __init__(self, servers):
        self.servers = servers  # [(name, port)]
        self.port = harness.free_port()
        self.dir = tempfile.mkdtemp(prefix="at-lb-")
        self.cfg = os.path.join(self.dir, "haproxy.cfg")
        self.sock = os.path.join(self.dir, "admin.sock")
        self.log_path = os.path.join(self.dir, "haproxy.log")
        self.proc = None
        self._log = None

    def config(self):
        lines = [
            "global",
            f"    stats socket {self.sock} mode 600 level admin",
            "    log stderr format raw local0 info",
            "    maxconn 4096",
            "",
            "defaults",
            "    mode http",
            "    log global",
            "    option httplog",
            "    timeout connect 2s",
            "    timeout client 30s",
            "    timeout server 30s",
            "    timeout check 1s",
            "",
            "frontend fe",
            f"    bind 127.0.0.1:{self.port}",
            # The edge: the client's address replaces whatever X-Forwarded-For it sent.
            "    http-request set-header X-Forwarded-For %[src]",
            "    default_backend replicas",
            "",
            "backend replicas",
            "    balance source",
            "    hash-type consistent",
            "    option httpchk GET /ready",
            "    http-check expect status 200",
            "    default-server inter 200ms fastinter 200ms downinter 300ms fall 2 rise 2",
        ]
        lines += [f"    server {name} 127.0.0.1:{port} check" for name, port in self.servers]
        return "\n".join(lines) + "\n"

    def start(self):
        with open(self.cfg, "w") as f:
            f.write(self.config())
        check = subprocess.run([HAPROXY, "-c", "-f", self.cfg], capture_output=True, text=True,
                               timeout=30)
        if check.returncode != 0:
            raise AssertionError(f"haproxy -c refuses the configuration:\n{check.stdout}"
                                 f"{check.stderr}\n{self.config()}")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([HAPROXY, "-db", "-f", self.cfg], stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + STATE_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"haproxy exited with {self.proc.returncode}\n"
                                     f"{self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    pass
                if os.path.exists(self.sock):
                    return self
            except OSError:
                pass
            if time.monotonic() >= deadline:
                raise AssertionError(f"haproxy does not listen on {self.port}\n{self.log_tail()}")
            time.sleep(0.05)

    def admin(self, command):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(self.sock)
            s.sendall(command.encode() + b"\n")
            chunks = []
            while True:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
        return b"".join(chunks).decode()

    def server_states(self):
        """{server name: (status, check_status)} of the backend, from `show stat`."""
        text = self.admin("show stat")
        lines = [l for l in text.splitlines() if l.strip()]
        header = lines[0].lstrip("# ").split(",")
        col = {name: i for i, name in enumerate(header)}
        out = {}
        for line in lines[1:]:
            f = line.split(",")
            if f[col["pxname"]] == "replicas" and f[col["svname"]] not in ("BACKEND", "FRONTEND"):
                out[f[col["svname"]]] = (f[col["status"]], f[col["check_status"]])
        return out

    def wait_state(self, name, want, timeout=STATE_TIMEOUT):
        """Waits until server name's status is exactly want ("UP" after a passed check, or
        "DOWN"); fails with the last states seen."""
        deadline = time.monotonic() + timeout
        states = None
        while True:
            try:
                states = self.server_states()
                status, check = states.get(name, ("?", "?"))
                if status == want and (want != "UP" or check == "L7OK"):
                    return
            except OSError as exc:
                states = exc
            if time.monotonic() >= deadline:
                raise AssertionError(f"haproxy did not mark {name} {want} within {timeout}s "
                                     f"(states: {states!r})\n{self.log_tail()}")
            time.sleep(0.05)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self._log:
            self._log.close()
            self._log = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            text = []
        return (f"---- last {min(lines, len(text))} lines of the haproxy log ----\n"
                + "\n".join(text[-lines:]) + "\n---- end ----")


def post_through(port, event, source, header_lines=()):
    """POSTs event to the balancer on a new connection from source; header_lines is a list of
    (name, value) sent as they are, repeats included. Returns a harness.Response."""
    return harness.raw_request(port, "POST", ROUTE, body=json.dumps(event).encode(),
                               headers=[("Content-Type", "application/json"), *header_lines],
                               source=source, timeout=20)


def drain_ids(queue):
    """Every message_id in queue, taken off it (the queue is empty afterwards)."""
    ids = []
    conn = harness.amqp_connect(timeout=10)
    try:
        ch = conn.channel()
        while True:
            method, props, _ = ch.basic_get(queue, auto_ack=True)
            if method is None:
                return ids
            ids.append(props.message_id)
    finally:
        conn.close()


class BalancedReplicas(ApiTestCase):
    """Three replicas r1..r3 (each with its own queue) and HAProxy in front, per test class."""

    START_API = False
    REPLICA_ENV = {"TRUST_PROXY_CIDRS": "127.0.0.1/32", "API_THREADS": "1"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.replicas = {}
        cls.lb = None
        # Class cleanups run also when setUpClass fails half-way.
        cls.addClassCleanup(cls._cleanup_all)
        for i in range(1, REPLICAS + 1):
            name = f"r{i}"
            api = ApiProcess(f"{cls.__name__}.{name}", env=cls.REPLICA_ENV)
            cls.replicas[name] = api
            api.start()
        cls.lb = HAProxy([(name, api.port) for name, api in cls.replicas.items()])
        cls.lb.start()
        for name in cls.replicas:
            cls.lb.wait_state(name, "UP")

    @classmethod
    def _cleanup_all(cls):
        if cls.lb is not None:
            cls.lb.cleanup()
        for api in cls.replicas.values():
            api.kill()
            harness.delete_queues(api.queue, api.queue + ".dlq")

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        outcome = super().run(result)
        if len(result.failures) + len(result.errors) > before:
            for api in type(self).replicas.values():
                print(f"\n{api.log_tail(20)}", file=sys.stderr)
            if type(self).lb is not None:
                print(f"\n{type(self).lb.log_tail()}", file=sys.stderr)
        return outcome

    def post(self, source, header_lines=(), event_id=None):
        event = new_activity(id=event_id or str(uuid.uuid4()))
        return post_through(self.lb.port, event, source, header_lines)

    def where(self):
        """{event id: replica name} of every message in the replicas' queues (drained)."""
        out = {}
        for name, api in self.replicas.items():
            for mid in drain_ids(api.queue):
                self.assertNotIn(mid, out, f"event {mid} is in two replicas' queues")
                out[mid] = name
        return out


class BalancerRateLimit(BalancedReplicas):

    def send_sixty(self, source, header_lines_for=lambda i: ()):
        """60 POSTs from source through the balancer; asserts exactly 50 × 202 and 10 × 429 with
        Retry-After, and that the 50 events are all in one replica's queue."""
        accepted, refused, other = [], [], []
        for i in range(LIMIT + 10):
            resp = self.post(source, header_lines_for(i))
            if resp.status == 202:
                accepted.append(self.assertAccepted(resp))
            elif resp.status == 429:
                self.assertProblem(resp, 429)
                self.assertRetryAfter(resp, low=1, high=60)
                refused.append(resp)
            else:
                other.append(resp)
        self.assertEqual(other, [], "only 202 and 429 are expected through the balancer")
        self.assertEqual((len(accepted), len(refused)), (LIMIT, 10),
                         f"from {source}: {len(accepted)} accepted, {len(refused)} refused "
                         f"(expected exactly {LIMIT} and 10)")
        where = self.where()
        replicas = {where.get(i) for i in accepted}
        self.assertEqual(len(replicas), 1, f"the events of {source} are spread over "
                                           f"{replicas}: one address must meet one replica")
        self.assertNotIn(None, replicas, "a 202'd event is in no replica's queue")
        return replicas.pop()

    def test_lb_sixty_posts_from_one_address_give_50_accepted_10_refused(self):
        self.send_sixty(next_source_address())

    def test_lb_forged_x_forwarded_for_gets_no_extra_quota(self):
        self.send_sixty(next_source_address(), lambda i: [("X-Forwarded-For", "1.2.3.4")])

    def test_lb_long_forged_first_x_forwarded_for_line_gets_no_extra_quota(self):
        # ~1 KB of forged hops on a first header line, then a second forged line: the balancer
        # drops both, so the replica never sees them however it would walk them.
        def lines(i):
            first = ", ".join(f"198.51.100.{(i + k) % 250 + 1}" for k in range(64))[:1024]
            first = first.rsplit(",", 1)[0]
            return [("X-Forwarded-For", first), ("X-Forwarded-For", f"203.0.113.{i % 250 + 1}")]
        self.assertGreater(len(lines(0)[0][1]), 900)
        self.send_sixty(next_source_address(), lines)

    def test_lb_trusted_address_forging_a_new_hop_each_time_gets_no_extra_quota(self):
        # A client on the balancer's own address (127.0.0.1, inside TRUST_PROXY_CIDRS). Were the
        # balancer to APPEND its hop, the replica would see "1.2.3.<i>, 127.0.0.1", skip the
        # trusted right-most hop and key each request on a new forged address: 60 × 202. Only
        # a balancer that REPLACES the header keeps this client at exactly 50.
        self.send_sixty("127.0.0.1", lambda i: [("X-Forwarded-For", f"1.2.3.{i + 1}")])


class BalancerConsistentHashing(BalancedReplicas):
    ADDRESSES = 40

    def round_trip(self, sources):
        """One POST from each source; returns {source: replica name}. Every answer must be 202."""
        ids = {}
        for src in sources:
            resp = self.post(src)
            ids[src] = self.assertAccepted(resp)
        where = self.where()
        missing = [s for s in sources if ids[s] not in where]
        self.assertEqual(missing, [], "202'd events found in no replica's queue")
        return {src: where[ids[src]] for src in sources}

    def test_lb_consistent_hashing_moves_only_the_dead_replicas_clients(self):
        sources = [next_source_address() for _ in range(self.ADDRESSES)]
        first = self.round_trip(sources)
        # The same addresses again, nothing changed: the same replica for each.
        self.assertEqual(self.round_trip(sources), first, "balance source is not sticky")
        load = {name: sorted(s for s, r in first.items() if r == name) for name in self.replicas}
        counts = {name: len(v) for name, v in load.items()}
        print(f"\naddresses per replica before the kill: {counts}", file=sys.stderr)
        self.assertGreaterEqual(sum(1 for c in counts.values() if c), 2,
                                f"{self.ADDRESSES} addresses all met one replica: {counts}")

        victim = max(counts, key=lambda n: counts[n])
        api = self.replicas[victim]
        api.proc.send_signal(signal.SIGKILL)
        api.proc.wait(timeout=10)
        self.lb.wait_state(victim, "DOWN")
        after = self.round_trip(sources)

        moved = sorted(s for s in sources if after[s] != first[s])
        self.assertEqual(moved, load[victim],
                         f"only the {counts[victim]} addresses of the killed replica {victim} may "
                         f"move; moved: {moved}")
        self.assertNotIn(victim, after.values())
        print(f"after SIGKILL of {victim}: {len(moved)} addresses moved, to "
              f"{sorted({after[s] for s in moved})}; {len(sources) - len(moved)} stayed",
              file=sys.stderr)

        # Back on the same port with the same queue: each address returns to where it was.
        api.kill()
        revived = ApiProcess(f"{type(self).__name__}.{victim}-again", queue=api.queue,
                             env=self.REPLICA_ENV)
        revived.port = api.port
        self.replicas[victim] = revived
        revived.start()
        self.lb.wait_state(victim, "UP")
        self.assertEqual(self.round_trip(sources), first,
                         "after the replica came back the addresses did not all return")


if __name__ == "__main__":
    unittest.main()
