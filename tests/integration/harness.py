"""Shared machinery of the integration tests: endpoints, the API process, HTTP and broker helpers.

Endpoints come from the environment, so the same suite runs against the local services
(scripts/services.sh) or docker compose's containers:

    RABBITMQ_URL       amqp://guest:guest@127.0.0.1:5672/
    RABBITMQ_MGMT_URL  http://127.0.0.1:15672 (credentials: its own userinfo, else RABBITMQ_URL's)
    DATABASE_URL       mongodb://127.0.0.1:27017/activity_db
    AT_BUILD_DIR       where activity-api was built (default: <source>/build)
    AT_RABBITMQCTL     command prefix for rabbitmqctl (default "rabbitmqctl"; with compose
                       "docker compose exec -T rabbitmq rabbitmqctl")

Importing this module exits with status 77 (ctest: skipped) when the broker cannot be reached.
"""

import base64
import datetime
import http.client
import itertools
import json
import os
import random
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
import uuid

SKIP = 77

SOURCE_DIR = os.environ.get("AT_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD_DIR = os.environ.get("AT_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
API_BIN = os.environ.get("AT_API_BIN") or os.path.join(BUILD_DIR, "activity-api")

RABBITMQ_URL = os.environ.get("RABBITMQ_URL") or "amqp://guest:guest@127.0.0.1:5672/"
RABBITMQ_MGMT_URL = os.environ.get("RABBITMQ_MGMT_URL") or "http://127.0.0.1:15672"
DATABASE_URL = os.environ.get("DATABASE_URL") or "mongodb://127.0.0.1:27017/activity_db"
RABBITMQCTL = shlex.split(os.environ.get("AT_RABBITMQCTL") or "rabbitmqctl")

API_CONNECTION_PREFIX = "activity-api"

# Settings for tests that send more than the default 50 requests from one address but do not test
# the limiter. Kept small on purpose: the limiter reserves RATE_LIMIT_MAX_CLIENTS times
# RATE_LIMIT_MAX_REQUESTS timestamps up front (8 MB here; 39 GB of address space with 100000 and
# the default 100000 clients, which a TSan build touches page by page).
LIMITER_OUT_OF_THE_WAY = {"RATE_LIMIT_MAX_REQUESTS": "1000", "RATE_LIMIT_MAX_CLIENTS": "1000"}
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _skip_module(reason):
    print(f"SKIP: {reason}", file=sys.stderr)
    sys.exit(SKIP)


try:
    import pika
except ImportError:
    _skip_module("python3-pika is not installed (scripts/test.sh installs it)")


def amqp_parameters():
    params = pika.URLParameters(RABBITMQ_URL)
    params.connection_attempts = 1
    params.socket_timeout = 5
    params.blocked_connection_timeout = 10
    params.client_properties = {"connection_name": "activity-tracker integration tests"}
    return params


def amqp_connect(timeout=0.0):
    """A new blocking connection to RABBITMQ_URL; retried until timeout seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return pika.BlockingConnection(amqp_parameters())
        except pika.exceptions.AMQPError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)


try:
    amqp_connect().close()
except Exception as exc:  # any failure to reach the broker means "skip", not "fail"
    _skip_module(f"RabbitMQ is not reachable at {RABBITMQ_URL.split('@')[-1]}: {exc!r}")


# ---- time, ids, payloads --------------------------------------------------------------------------

def parse_rfc3339(text):
    """The datetime of an RFC 3339 date-time with an offset (aware), or None if it is not one."""
    if not isinstance(text, str) or not re.match(
            r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$", text):
        return None
    try:
        value = datetime.datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def new_activity(**overrides):
    """A valid activity event; keyword arguments replace or add fields (None removes one)."""
    event = {
        "userId": f"user-{secrets.token_hex(4)}",
        "eventType": "page_view",
        "timestamp": "2024-05-01T12:34:56.789Z",
        "payload": {"page": "/home", "referrer": "search", "durationMs": 1234,
                    "tags": ["a", "b"], "nested": {"ok": True, "none": None}},
    }
    for key, value in overrides.items():
        if value is None:
            event.pop(key, None)
        else:
            event[key] = value
    return event


def is_compact_json(raw):
    """True when raw (str) has no whitespace outside its strings."""
    in_string = escaped = False
    for ch in raw:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in " \t\r\n":
            return False
    return True


_source_counter = itertools.count(10)


def next_source_address():
    """A loopback address not used before in this process (127.0.0.10, .11, ...; 127.0.1.x after)."""
    n = next(_source_counter)
    return f"127.0.{n // 250}.{n % 250 + 2}" if n >= 250 else f"127.0.0.{n}"


# ---- HTTP -----------------------------------------------------------------------------------------

class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # http.client.HTTPMessage: case-insensitive, get_all() for repeats
        self.body = body

    def header(self, name):
        return self.headers.get(name)

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        body = self.body[:300].decode("utf-8", "replace")
        return f"<Response {self.status} {self.reason} headers={dict(self.headers)} body={body!r}>"


def http_request(port, method, path, body=None, headers=None, source=None, timeout=15.0):
    """One request on a new connection (from source, a local address, when given)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                      source_address=(source, 0) if source else None)
    try:
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode("utf-8")
        elif isinstance(body, str):
            body = body.encode("utf-8")
        conn.request(method, path, body=body, headers=dict(headers or {}))
        resp = conn.getresponse()
        return Response(resp.status, resp.reason, resp.msg, resp.read())
    finally:
        conn.close()


def raw_request(port, method, path, body=None, headers=(), source=None, timeout=15.0):
    """One request on a new connection with headers as a list of (name, value): a name may
    repeat, each pair being sent as its own header line."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                      source_address=(source, 0) if source else None)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        return Response(resp.status, resp.reason, resp.msg, resp.read())
    finally:
        conn.close()


# ---- broker ---------------------------------------------------------------------------------------

def queue_message_count(queue):
    conn = amqp_connect(timeout=10)
    try:
        return conn.channel().queue_declare(queue, passive=True).method.message_count
    finally:
        conn.close()


def read_messages(queue, count, timeout=10.0, settle=0.0):
    """Takes messages off queue with basic_get until count are read or timeout seconds pass, then
    keeps reading for settle more seconds (to catch extra ones). Returns a list of
    (properties, body bytes)."""
    messages = []
    deadline = time.monotonic() + timeout
    conn = amqp_connect(timeout=10)
    try:
        ch = conn.channel()
        settle_until = None
        while True:
            now = time.monotonic()
            if len(messages) >= count and settle_until is None:
                settle_until = now + settle
            if settle_until is not None and now >= settle_until:
                break
            if settle_until is None and now >= deadline:
                break
            method, props, body = ch.basic_get(queue, auto_ack=True)
            if method is None:
                time.sleep(0.05)
                continue
            messages.append((props, body))
    finally:
        conn.close()
    return messages


def delete_queues(*queues):
    try:
        conn = amqp_connect(timeout=10)
    except Exception as exc:
        print(f"warning: could not delete queues {queues}: {exc!r}", file=sys.stderr)
        return
    try:
        for q in queues:
            ch = conn.channel()
            try:
                ch.queue_delete(q)
            except pika.exceptions.AMQPError:
                pass
    finally:
        try:
            conn.close()
        except Exception:
            pass


def _mgmt_credentials():
    parts = urllib.parse.urlsplit(RABBITMQ_MGMT_URL)
    if parts.username is not None:
        return urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or "")
    amqp = urllib.parse.urlsplit(RABBITMQ_URL)
    if amqp.username is not None:
        return urllib.parse.unquote(amqp.username), urllib.parse.unquote(amqp.password or "")
    return "guest", "guest"


def mgmt_request(method, path, timeout=10.0):
    """A request to the management HTTP API; returns (status, parsed JSON or None)."""
    parts = urllib.parse.urlsplit(RABBITMQ_MGMT_URL)
    base = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    user, password = _mgmt_credentials()
    req = urllib.request.Request(base + path, method=method)
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    req.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            data = resp.read()
            return resp.status, (json.loads(data) if data else None)
    except urllib.error.HTTPError as exc:
        return exc.code, None


def rabbitmqctl(*args, timeout=120.0, check=True):
    """Runs AT_RABBITMQCTL with args; returns the CompletedProcess."""
    proc = subprocess.run(RABBITMQCTL + list(args), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(RABBITMQCTL + list(args))} failed ({proc.returncode}): "
                             f"{proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def rabbitmqctl_usable():
    """None when rabbitmqctl can talk to the broker, else the reason it cannot."""
    try:
        proc = rabbitmqctl("status", "-q", timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{' '.join(RABBITMQCTL)}: {exc!r}"
    if proc.returncode != 0:
        return f"{' '.join(RABBITMQCTL)} status failed: {proc.stderr.strip()[:300]}"
    return None


def api_connections():
    """Pids of the broker's connections whose connection_name starts with "activity-api".
    (close_connection takes the Erlang pid as rabbitmqctl's table output prints it,
    <rabbit@host.N.N.N>; the JSON formatter prints pids in a form it does not accept.)"""
    proc = rabbitmqctl("list_connections", "pid", "client_properties", "-q", "--no-table-headers",
                       timeout=60)
    pids = []
    name_re = re.compile(r'\{"connection_name","' + re.escape(API_CONNECTION_PREFIX))
    for line in proc.stdout.splitlines():
        pid, _, props = line.partition("\t")
        if pid.startswith("<") and name_re.search(props):
            pids.append(pid.strip())
    return pids


def close_api_connections(reason="integration test: forced close"):
    """Closes every activity-api connection on the broker; returns how many were closed."""
    pids = api_connections()
    for pid in pids:
        rabbitmqctl("close_connection", pid, reason, timeout=60)
    return len(pids)


def wait_broker_app_running(timeout=120.0):
    """Waits until the broker accepts AMQP connections again (after start_app)."""
    rabbitmqctl("await_startup", "--timeout", str(int(timeout)), timeout=timeout + 10, check=False)
    amqp_connect(timeout=timeout).close()


# ---- the API process ------------------------------------------------------------------------------

def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
            return low, high
    except (OSError, ValueError):
        return 32768, 60999


def free_port():
    """A free TCP port on 127.0.0.1 below the kernel's ephemeral range: a port the kernel hands
    out itself could be taken by any outgoing connection before the server binds it."""
    low, _ = _ephemeral_range()
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(max(1024, low - 12000), low)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free TCP port found below the ephemeral range")


def new_queue_name():
    return f"it_{secrets.token_hex(6)}"


def _log_dir():
    path = os.path.join(BUILD_DIR, "integration-logs")
    try:
        os.makedirs(path, exist_ok=True)
        return path
    except OSError:
        return tempfile.mkdtemp(prefix="activity-it-")


class ApiProcess:
    """activity-api running as a child process on a free port of 127.0.0.1, with its own queue."""

    def __init__(self, name, queue=None, env=None):
        if not os.access(API_BIN, os.X_OK):
            raise AssertionError(f"{API_BIN} does not exist or is not executable: build the project "
                                 "first (cmake --build build)")
        self.name = name
        self.queue = queue or new_queue_name()
        self.port = free_port()
        self.extra_env = dict(env or {})
        self.log_path = os.path.join(_log_dir(), f"{name}-{self.queue}.log")
        self.proc = None
        self._log = None

    def start(self, ready_timeout=30.0):
        env = dict(os.environ)
        env.update({
            "API_HOST": "127.0.0.1",
            "API_PORT": str(self.port),
            "API_THREADS": "2",
            "RABBITMQ_URL": RABBITMQ_URL,
            "RABBITMQ_QUEUE": self.queue,
            "LOG_LEVEL": "info",
        })
        env.update({k: str(v) for k, v in self.extra_env.items()})
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([API_BIN], env=env, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        if ready_timeout:
            self.wait_ready(ready_timeout)
        return self

    def wait_ready(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"activity-api exited with {self.proc.returncode} during "
                                     f"startup\n{self.log_tail()}")
            try:
                last = self.get("/ready", timeout=2)
                if last.status == 200:
                    return
            except OSError as exc:
                last = exc
            time.sleep(0.1)
        raise AssertionError(f"activity-api not ready within {timeout}s (last: {last!r})\n"
                             f"{self.log_tail()}")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def request(self, method, path, body=None, headers=None, source=None, timeout=15.0):
        return http_request(self.port, method, path, body=body, headers=headers, source=source,
                            timeout=timeout)

    def status(self, path, timeout=2.0):
        """The status of GET path, or None when the API does not answer."""
        try:
            return self.get(path, timeout=timeout).status
        except OSError:
            return None

    def get(self, path, source=None, timeout=15.0):
        return self.request("GET", path, source=source, timeout=timeout)

    def post(self, body, path="/api/v1/activities", content_type="application/json",
             headers=None, source=None, timeout=15.0):
        hdrs = {} if content_type is None else {"Content-Type": content_type}
        hdrs.update(headers or {})
        return self.request("POST", path, body=body, headers=hdrs, source=source, timeout=timeout)

    def signal(self, signum):
        self.proc.send_signal(signum)

    def stop(self, timeout=15.0):
        """SIGTERM, then wait up to timeout seconds; returns the exit code (SIGKILL and raise on
        timeout)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise AssertionError(f"activity-api did not exit within {timeout}s of SIGTERM\n"
                                 f"{self.log_tail()}")
        finally:
            if self._log:
                self._log.close()
                self._log = None
        return rc

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self._log:
            self._log.close()
            self._log = None

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, lines=60):
        text = self.log_text().splitlines()
        return (f"---- last {min(lines, len(text))} lines of {self.log_path} ----\n"
                + "\n".join(text[-lines:]) + "\n---- end ----")

    def log_problems(self):
        """Lines of the log that break the contract: not a JSON object with ts, level and msg, or
        holding the broker password in clear."""
        problems = []
        password = urllib.parse.urlsplit(RABBITMQ_URL).password
        for n, line in enumerate(self.log_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                problems.append(f"line {n} is not JSON: {line[:200]}")
                continue
            if not isinstance(obj, dict) or not {"ts", "level", "msg"} <= obj.keys():
                problems.append(f"line {n} lacks ts/level/msg: {line[:200]}")
            if password and f":{password}@" in line:
                problems.append(f"line {n} shows the broker password: {line[:200]}")
        return problems


class ApiTestCase(unittest.TestCase):
    """Starts one activity-api per test class (queue it_<random>, settings from API_ENV), stops it
    with SIGTERM afterwards expecting exit code 0, and deletes the queue and its .dlq. The API's
    log is printed when a test of the class fails."""

    API_ENV = {}
    START_API = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.api = None
        if cls.START_API:
            api = ApiProcess(cls.__name__, env=cls.API_ENV)
            try:
                api.start()
            except BaseException:
                # unittest skips tearDownClass when setUpClass fails: clean up here.
                api.kill()
                delete_queues(api.queue, api.queue + ".dlq")
                raise
            cls.api = api

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.api is not None:
                rc = cls.api.stop()
                if rc != 0:
                    raise AssertionError(f"activity-api exited with {rc} after SIGTERM\n"
                                         f"{cls.api.log_tail()}")
                problems = cls.api.log_problems()
                if problems:
                    raise AssertionError("activity-api log breaks the log contract:\n"
                                         + "\n".join(problems[:10]))
        finally:
            if cls.api is not None:
                cls.api.kill()
                delete_queues(cls.api.queue, cls.api.queue + ".dlq")
            super().tearDownClass()

    def start_api(self, env=None, ready_timeout=30.0):
        """A further API process for this test only; stopped and its queues deleted at cleanup."""
        api = ApiProcess(f"{type(self).__name__}.{self._testMethodName}", env=env)
        if not hasattr(self, "_test_apis"):
            self._test_apis = []
        self._test_apis.append(api)

        def cleanup():
            api.kill()
            delete_queues(api.queue, api.queue + ".dlq")

        self.addCleanup(cleanup)
        return api.start(ready_timeout=ready_timeout)

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        outcome = super().run(result)
        if len(result.failures) + len(result.errors) > before:
            for api in [type(self).api] + getattr(self, "_test_apis", []):
                if api is not None:
                    print(f"\n{api.log_tail()}", file=sys.stderr)
        return outcome

    # -- assertions shared by the test files --

    def assertProblem(self, resp, status):
        """resp is an RFC 9457 problem with this status; returns the parsed body."""
        self.assertEqual(resp.status, status, resp)
        ctype = (resp.header("Content-Type") or "").split(";")[0].strip().lower()
        self.assertEqual(ctype, "application/problem+json", resp)
        body = resp.json()
        self.assertIsInstance(body, dict, resp)
        for key in ("type", "title", "status", "detail"):
            self.assertIn(key, body, resp)
        self.assertEqual(body["status"], status, resp)
        self.assertIsInstance(body["title"], str)
        self.assertIsInstance(body["type"], str)
        return body

    def assertRetryAfter(self, resp, low=1, high=None):
        value = resp.header("Retry-After")
        self.assertIsNotNone(value, f"no Retry-After on {resp}")
        self.assertRegex(value.strip(), r"^[0-9]+$", f"Retry-After is not an integer: {resp}")
        seconds = int(value)
        self.assertGreaterEqual(seconds, low, resp)
        if high is not None:
            self.assertLessEqual(seconds, high, resp)
        return seconds

    def assertAccepted(self, resp):
        """resp is a 202 with {"id": <lower-case uuid>, "status": "accepted"}; returns the id."""
        self.assertEqual(resp.status, 202, resp)
        ctype = (resp.header("Content-Type") or "").split(";")[0].strip().lower()
        self.assertEqual(ctype, "application/json", resp)
        body = resp.json()
        self.assertEqual(set(body), {"id", "status"}, resp)
        self.assertEqual(body["status"], "accepted", resp)
        self.assertRegex(body["id"], UUID_RE, resp)
        return body["id"]

    def assertMatchesOpenAPI(self, resp, path, method):
        """resp agrees with the response docs/openapi.yaml declares (no-op without that file)."""
        errors = openapi_errors(resp, path, method)
        self.assertFalse(errors, "\n".join(errors) + f"\n{resp!r}")

    def wait_until(self, predicate, timeout, message, interval=0.2):
        """Polls predicate until it returns a true value (returned) or fails after timeout s."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            last = predicate()
            if last:
                return last
            if time.monotonic() >= deadline:
                self.fail(f"{message} (not within {timeout}s; last: {last!r})")
            time.sleep(interval)


def run_concurrently(fns, timeout=60.0):
    """Runs each callable in its own thread; returns their results (an exception object stands
    for a call that raised). Threads still running after timeout seconds count as TimeoutError."""
    results = [TimeoutError("did not finish")] * len(fns)

    def runner(i, fn):
        try:
            results[i] = fn()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=runner, args=(i, fn), daemon=True) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    return list(results)


def uuid_version(text):
    return uuid.UUID(text).version


# ---- OpenAPI --------------------------------------------------------------------------------------

OPENAPI_PATH = os.path.join(SOURCE_DIR, "docs", "openapi.yaml")
_openapi_cache = {}


def load_openapi():
    """docs/openapi.yaml parsed, or None when the file does not exist (yet)."""
    if "doc" not in _openapi_cache:
        doc = None
        if os.path.exists(OPENAPI_PATH):
            import yaml
            with open(OPENAPI_PATH, encoding="utf-8") as f:
                doc = yaml.safe_load(f)
        _openapi_cache["doc"] = doc
    return _openapi_cache["doc"]


def openapi_errors(resp, path, method):
    """How resp disagrees with the response docs/openapi.yaml declares for path/method: a list of
    messages, empty when it matches (or when there is no docs/openapi.yaml)."""
    doc = load_openapi()
    if doc is None:
        return []
    import jsonschema

    path_item = (doc.get("paths") or {}).get(path)
    operation = (path_item or {}).get(method.lower())
    if path_item is None and resp.status == 404 and "x-unknown-path" in doc:
        spec = doc["x-unknown-path"]  # the answer for any undeclared path
    elif operation is None and resp.status == 405 and "x-other-methods" in (path_item or {}):
        spec = path_item["x-other-methods"]  # the answer for an undeclared method
    elif operation is None:
        return [f"docs/openapi.yaml declares no {method.upper()} {path}"]
    else:
        responses = operation.get("responses") or {}
        spec = (responses.get(str(resp.status)) or responses.get(resp.status)
                or responses.get("default"))
        if spec is None:
            return [f"docs/openapi.yaml declares no {resp.status} for {method.upper()} {path}"]
    resolver = jsonschema.RefResolver.from_schema(doc)
    while "$ref" in spec:
        spec = resolver.resolve(spec["$ref"])[1]
    errors = []
    for name, header in (spec.get("headers") or {}).items():
        while "$ref" in header:
            header = resolver.resolve(header["$ref"])[1]
        if header.get("required") and resp.header(name) is None:
            errors.append(f"{resp.status} of {method.upper()} {path}: required header {name} missing")
    content = spec.get("content") or {}
    ctype = (resp.header("Content-Type") or "").split(";")[0].strip().lower()
    if not content:
        return errors
    media = content.get(ctype)
    if media is None:
        return errors + [f"{resp.status} of {method.upper()} {path}: content type {ctype!r} is not "
                         f"among {sorted(content)}"]
    schema = media.get("schema")
    if schema is None or not ctype.endswith("json"):
        return errors
    try:
        body = resp.json()
    except ValueError as exc:
        return errors + [f"{resp.status} body is not JSON: {exc}"]
    validator_cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    validator = validator_cls(schema, resolver=resolver)
    return errors + [f"{resp.status} of {method.upper()} {path}: {e.message} at "
                     f"{list(e.absolute_path)}" for e in validator.iter_errors(body)]
