# SPDX-License-Identifier: MIT
"""Helpers for the activity-consumer integration tests.

Endpoints come from the environment, as for every integration test:
  RABBITMQ_URL       amqp URL of the broker (default amqp://guest:guest@127.0.0.1:5672/)
  RABBITMQ_MGMT_URL  management API, used only for diagnostics (default http://127.0.0.1:15672)
  DATABASE_URL       MongoDB URL; its database name is replaced by a per-test one
  AT_BUILD_DIR       build directory holding src/consumer/activity-consumer and activity-api
  AT_API_BIN         the activity-api binary, if not in AT_BUILD_DIR
Outage tests also read:
  AT_DB_STOP_CMD / AT_DB_START_CMD    shell commands that stop and start the database (default:
                                      the local FerretDB of scripts/services.sh, by its pid file)
  AT_RABBITMQCTL                      how to run rabbitmqctl (default "rabbitmqctl")
  AT_BROKER_STOP_CMD / AT_BROKER_START_CMD  override the broker restart (default:
                                      "$AT_RABBITMQCTL stop_app" / "... start_app")
Every wait is bounded; a test whose endpoints are missing is skipped.
"""
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request
import uuid

try:
    import pika
    import pymongo
except ImportError:  # another python3 first on PATH: use Debian's packages
    sys.path.append("/usr/lib/python3/dist-packages")
    try:
        import pika
        import pymongo
    except ImportError:
        pika = None
        pymongo = None

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("AT_SOURCE_DIR", os.path.dirname(os.path.dirname(HERE)))
BUILD_DIR = os.environ.get("AT_BUILD_DIR", os.path.join(SOURCE_DIR, "build"))
RABBITMQ_URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
MGMT_URL = os.environ.get("RABBITMQ_MGMT_URL", "http://127.0.0.1:15672")
DATABASE_URL = os.environ.get("DATABASE_URL", "mongodb://127.0.0.1:27017/activity_db")
SERVICES_DIR = os.environ.get("AT_SERVICES_DIR", "/tmp/activity-tracker-services")


def find_binary(name):
    override = os.environ.get("AT_API_BIN") if name == "activity-api" else None
    if override and os.access(override, os.X_OK):
        return override
    for sub in ("src/consumer", "src/api", "."):
        p = os.path.join(BUILD_DIR, sub, name)
        if os.access(p, os.X_OK):
            return p
    return None


def wait_until(pred, timeout, what, interval=0.2):
    """Polls pred() until it returns a true value, at most timeout seconds; fails otherwise."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %.0f s waiting for %s (last: %r)" % (timeout, what, last))


def tcp_open(host, port, timeout=1.0):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


from harness import free_port  # noqa: E402  (one port policy for every suite)


def database_url_for(db):
    """DATABASE_URL with its database path replaced by db (options and credentials kept)."""
    u = urllib.parse.urlsplit(DATABASE_URL)
    return urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + db, u.query, u.fragment))


def endpoints_missing():
    """Returns why the endpoints cannot be used, or None."""
    if pika is None or pymongo is None:
        return "python3-pika and python3-pymongo are needed"
    if find_binary("activity-consumer") is None:
        return "activity-consumer is not built in %s" % BUILD_DIR
    try:
        c = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
        c.close()
    except Exception as e:  # noqa: BLE001 - any failure means "no broker"
        return "broker %s unreachable: %s" % (RABBITMQ_URL.split("@")[-1], e)
    try:
        m = pymongo.MongoClient(DATABASE_URL, serverSelectionTimeoutMS=3000)
        m.admin.command("ping")
        m.close()
    except Exception as e:  # noqa: BLE001
        return "database unreachable: %s" % e
    return None


def message(i, event_id=None, **over):
    """A message body exactly as activity_encode writes it (compact, this key order)."""
    doc = {
        "id": event_id or str(uuid.uuid4()),
        "userId": "user-%d" % (i % 97),
        "eventType": ("click", "view", "purchase")[i % 3],
        "timestamp": "2024-05-01T12:00:%02d.250+02:00" % (i % 60),
        "payload": {"i": i, "page": "/p/%d" % i, "tags": ["a", "b"], "ratio": 0.5, "ok": True,
                    "none": None, "nested": {"depth": {"x": i}}},
        "receivedAt": "2024-05-01T10:00:01.000Z",
    }
    doc.update(over)
    return json.dumps(doc, separators=(",", ":")).encode()


class Broker:
    """A pika connection for publishing and inspecting the test's queues."""

    def __init__(self, queue):
        self.queue = queue
        self.dlq = queue + ".dlq"
        self.conn = None
        self.ch = None

    def connect(self):
        self.conn = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
        self.ch = self.conn.channel()

    def ensure(self):
        if self.conn is None or self.conn.is_closed:
            self.connect()

    def declare(self):
        """Declares the topology as the services do (DESIGN §4)."""
        self.ensure()
        self.ch.queue_declare(self.dlq, durable=True)
        self.ch.queue_declare(self.queue, durable=True, arguments={
            "x-dead-letter-exchange": "", "x-dead-letter-routing-key": self.dlq})

    def publish(self, bodies, confirm_every=0):
        """Publishes persistent messages; with confirm_every the channel confirms each one."""
        self.ensure()
        ch = self.conn.channel()
        if confirm_every:
            ch.confirm_delivery()
        props = pika.BasicProperties(content_type="application/json", delivery_mode=2,
                                     app_id="consumer-it")
        for b in bodies:
            ch.basic_publish("", self.queue, b, props)
        ch.close()

    def depth(self, queue):
        """Messages ready in queue (unacked ones are not counted)."""
        for _ in range(2):
            try:
                self.ensure()
                return self.ch.queue_declare(queue, passive=True).method.message_count
            except (pika.exceptions.AMQPConnectionError, pika.exceptions.AMQPChannelError):
                self.conn = None
        self.ensure()
        return self.ch.queue_declare(queue, passive=True).method.message_count

    def get_all(self, queue, limit=100000):
        self.ensure()
        out = []
        while len(out) < limit:
            m, props, body = self.ch.basic_get(queue, auto_ack=True)
            if m is None:
                break
            out.append(body)
        return out

    def delete(self):
        try:
            self.ensure()
            self.ch.queue_delete(self.queue)
            self.ch.queue_delete(self.dlq)
            self.conn.close()
        except Exception:  # noqa: BLE001 - best-effort cleanup
            pass


class Consumer:
    """One activity-consumer process with a log file."""

    def __init__(self, queue, db, **env):
        self.queue = queue
        self.db = db
        self.metrics_port = free_port()
        self.health = tempfile.NamedTemporaryFile(prefix="consumer-health-", delete=False).name
        os.unlink(self.health)
        self.log = tempfile.NamedTemporaryFile(prefix="consumer-", suffix=".log", delete=False)
        self.env = dict(os.environ)
        self.env.update({
            "RABBITMQ_URL": RABBITMQ_URL,
            "RABBITMQ_QUEUE": queue,
            "DATABASE_URL": database_url_for(db),
            "CONSUMER_WORKERS": "2",
            "CONSUMER_METRICS_HOST": "127.0.0.1",
            "CONSUMER_METRICS_PORT": str(self.metrics_port),
            "CONSUMER_HEALTH_FILE": self.health,
            "LOG_LEVEL": "info",
        })
        self.env.update({k: str(v) for k, v in env.items()})
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([find_binary("activity-consumer")], env=self.env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(lambda: tcp_open("127.0.0.1", self.metrics_port), 20, "consumer metrics port")
        return self

    def metrics(self):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.metrics_port,
                                        timeout=5) as r:
                text = r.read().decode()
        except OSError:
            return {}
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                out[k] = float(v)
        return out

    def metric(self, key):
        return self.metrics().get(key, 0.0)

    def healthy(self):
        r = subprocess.run([find_binary("activity-consumer"), "--health"], env=self.env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
        return r.returncode == 0

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=60):
        """SIGTERM and wait; returns the exit status."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError("consumer did not stop within %d s after SIGTERM" % timeout)

    def kill9(self):
        self.proc.kill()
        self.proc.wait(10)

    def logs(self):
        self.log.flush()
        with open(self.log.name, "rb") as f:
            return f.read().decode(errors="replace")

    def log_lines(self):
        out = []
        for line in self.logs().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"raw": line})
        return out

    def cleanup(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait(10)
        for p in (self.health, self.log.name):
            try:
                os.unlink(p)
            except OSError:
                pass


class Database:
    def __init__(self, db):
        self.client = pymongo.MongoClient(database_url_for(db), serverSelectionTimeoutMS=5000)
        self.db = self.client[db]
        self.coll = self.db["activities"]

    def count(self):
        for _ in range(3):
            try:
                return self.coll.count_documents({})
            except pymongo.errors.PyMongoError:
                time.sleep(1)
        return self.coll.count_documents({})

    def drop(self):
        try:
            self.client.drop_database(self.db.name)
            self.client.close()
        except Exception:  # noqa: BLE001 - best-effort cleanup
            pass


def run(cmd, timeout=120):
    r = subprocess.run(cmd, shell=True, timeout=timeout, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    if r.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (cmd, r.returncode, r.stdout.decode()[-2000:]))
    return r.stdout.decode()


# ---- database outage ---------------------------------------------------------------------------

class LocalFerretDB:
    """Stops and restarts the FerretDB of scripts/services.sh with the same arguments."""

    HOSTS = ("127.0.0.1", "localhost")  # where scripts/services.sh serves it
    PORT = 27017

    def __init__(self):
        self.pidfile = os.path.join(SERVICES_DIR, "ferretdb", "ferretdb.pid")
        self.logfile = os.path.join(SERVICES_DIR, "ferretdb", "ferretdb.log")
        self.argv = None

    def _pid(self):
        with open(self.pidfile) as f:
            return int(f.read().strip())

    def available(self):
        try:
            pid = self._pid()
            os.kill(pid, 0)
            return True
        except (OSError, ValueError):
            return False

    def stop(self):
        pid = self._pid()
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            self.argv = [a.decode() for a in f.read().split(b"\0") if a]
        os.kill(pid, signal.SIGKILL)

        def gone():
            try:
                with open("/proc/%d/stat" % pid) as f:
                    return f.read().split()[2] == "Z"
            except OSError:
                return True
        wait_until(gone, 15, "FerretDB to die")

    def start(self):
        with open(self.logfile, "ab") as log:
            p = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
        p.returncode = 0  # it outlives the test on purpose, as the service it replaces
        with open(self.pidfile, "w") as f:
            f.write("%d\n" % p.pid)
        host, port = "127.0.0.1", 27017
        wait_until(lambda: tcp_open(host, port), 60, "FerretDB to listen again")


def db_outage_controls():
    """Returns (stop, start) callables, or None when the database cannot be controlled."""
    stop_cmd = os.environ.get("AT_DB_STOP_CMD")
    start_cmd = os.environ.get("AT_DB_START_CMD")
    if stop_cmd and start_cmd:
        return (lambda: run(stop_cmd), lambda: run(start_cmd))
    # Without commands only the FerretDB of scripts/services.sh can be stopped, and only when
    # DATABASE_URL is that one: a database elsewhere must never cost the local one its process.
    u = urllib.parse.urlsplit(DATABASE_URL)
    local = LocalFerretDB()
    if u.hostname in LocalFerretDB.HOSTS and (u.port or 27017) == LocalFerretDB.PORT \
            and local.available():
        return (local.stop, local.start)
    return None


def broker_restart_controls():
    ctl = os.environ.get("AT_RABBITMQCTL", "rabbitmqctl")
    stop_cmd = os.environ.get("AT_BROKER_STOP_CMD", ctl + " stop_app")
    start_cmd = os.environ.get("AT_BROKER_START_CMD", ctl + " start_app")
    probe = shlex.split(ctl)[0]
    if not os.environ.get("AT_BROKER_STOP_CMD") and subprocess.run(
            ["sh", "-c", "command -v %s" % shlex.quote(probe)],
            stdout=subprocess.DEVNULL).returncode != 0:
        return None
    return (lambda: run(stop_cmd), lambda: run(start_cmd))


class ConsumerTestCase(unittest.TestCase):
    """Gives each test its own queue, DLQ and database, and cleans them up."""

    def setUp(self):
        why = endpoints_missing()
        if why:
            self.skipTest(why)
        tag = uuid.uuid4().hex[:10]
        self.queue = "it_consumer_" + tag
        self.dbname = "at_consumer_it_" + tag
        self.broker = Broker(self.queue)
        self.broker.declare()
        self.database = Database(self.dbname)
        self.consumers = []

    def tearDown(self):
        for c in getattr(self, "consumers", []):
            if self._outcome_failed():
                sys.stderr.write("---- consumer log (%s) ----\n%s\n" % (c.queue, c.logs()[-8000:]))
            c.cleanup()
        if hasattr(self, "broker"):
            self.broker.delete()
        if hasattr(self, "database"):
            self.database.drop()

    def _outcome_failed(self):
        outcome = getattr(self, "_outcome", None)
        errors = getattr(outcome, "errors", None)
        if errors is None:
            result = getattr(outcome, "result", None)
            return bool(result and (result.failures or result.errors))
        return any(e for _, e in errors)

    def consumer(self, **env):
        c = Consumer(self.queue, self.dbname, **env)
        self.consumers.append(c)
        return c.start()


def skip_module_if_missing():
    """Exits 77 (ctest: skipped) at import when the endpoints are missing, so that
    `python -m unittest test_consumer_...` reports a skip rather than a pass."""
    why = endpoints_missing()
    if why:
        sys.stderr.write("skipping the consumer integration tests: %s\n" % why)
        sys.exit(77)


def main():
    """unittest main that exits 77 (ctest: skipped) when every test was skipped."""
    prog = unittest.main(exit=False, verbosity=2)
    r = prog.result
    if r.testsRun > 0 and len(r.skipped) == r.testsRun:
        sys.exit(77)
    sys.exit(0 if r.wasSuccessful() else 1)
