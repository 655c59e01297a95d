"""docs/openapi.yaml against itself and against the running service.

The document must parse, be OpenAPI 3.1, resolve every $ref inside itself, declare the status
codes each operation answers, and hold examples that pass its own schemas. Then real responses
of activity-api (started against the live broker) must match what it declares: status code,
content type, body (JSON Schema 2020-12, as OpenAPI 3.1 schemas are) and required headers. A
table of request bodies checks that the request schema and the service agree on what is valid.

Importing harness exits with status 77 (ctest: skipped) when the broker is unreachable.
"""

import gzip
import json
import os
import re
import sys
import unittest
import uuid
import zlib

import harness
from harness import ApiTestCase, new_activity

try:
    import jsonschema
    import yaml  # noqa: F401  (harness.load_openapi imports it)
except ImportError as exc:
    print(f"SKIP: python3-yaml and python3-jsonschema are needed: {exc}", file=sys.stderr)
    sys.exit(harness.SKIP)

ROUTE = "/api/v1/activities"
BATCH = "/api/v1/activities/batch"
API_DOCS_PATH = os.path.join(harness.SOURCE_DIR, "API_DOCS.md")

# Every operation and the status codes it must declare (no more, no fewer).
EXPECTED_CODES = {
    (ROUTE, "post"): {"202", "400", "401", "413", "415", "429", "503"},
    (BATCH, "post"): {"202", "400", "401", "413", "415", "429", "503"},
    ("/health", "get"): {"200"},
    ("/ready", "get"): {"200", "503"},
    ("/metrics", "get"): {"200"},
}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}

# A base URI for the document, so that schemas can be validated by reference into it.
DOC_URI = "https://activity-tracker.invalid/docs/openapi.yaml"


# ---- the document -----------------------------------------------------------------------------

def load_doc():
    doc = harness.load_openapi()
    if doc is None:
        raise AssertionError(f"{harness.OPENAPI_PATH} does not exist")
    return doc


def escape(token):
    """A JSON Pointer reference token (RFC 6901)."""
    return token.replace("~", "~0").replace("/", "~1")


def pointer_get(doc, pointer):
    """The node at a JSON Pointer ("" or "/a/b") inside doc; KeyError/IndexError if absent."""
    node = doc
    if pointer == "":
        return node
    if not pointer.startswith("/"):
        raise KeyError(pointer)
    for raw in pointer[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        node = node[int(token)] if isinstance(node, list) else node[token]
    return node


def follow(doc, pointer):
    """Follows $ref chains from the node at pointer; returns (node, its pointer)."""
    seen = set()
    node = pointer_get(doc, pointer)
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#") or ref in seen:
            raise AssertionError(f"cannot follow $ref {ref!r} at {pointer}")
        seen.add(ref)
        pointer = ref[1:]
        node = pointer_get(doc, pointer)
    return node, pointer


def walk(node, pointer=""):
    """Yields (pointer, node) for every dict in the tree."""
    if isinstance(node, dict):
        yield pointer, node
        for key, value in node.items():
            yield from walk(value, f"{pointer}/{escape(str(key))}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{pointer}/{i}")


def schema_validator(doc, pointer):
    """A Draft 2020-12 validator for the schema at pointer in doc, resolving $refs in doc.
    Works with jsonschema 4.10 (Debian 12: RefResolver) and with newer versions (referencing)."""
    schema = {"$ref": f"{DOC_URI}#{pointer}"}
    try:
        import referencing
        import referencing.jsonschema
    except ImportError:
        resolver = jsonschema.RefResolver(DOC_URI, doc)
        return jsonschema.Draft202012Validator(schema, resolver=resolver)
    resource = referencing.Resource(contents=doc, specification=referencing.jsonschema.DRAFT202012)
    registry = referencing.Registry().with_resource(DOC_URI, resource)
    return jsonschema.Draft202012Validator(schema, registry=registry)


def schema_errors(doc, pointer, instance):
    validator = schema_validator(doc, pointer)
    return [f"{e.message} at {'/'.join(map(str, e.absolute_path)) or '(root)'}"
            for e in validator.iter_errors(instance)]


def media_type(resp):
    return (resp.header("Content-Type") or "").split(";")[0].strip().lower()


def response_pointer(doc, path, method, status):
    """Where the document declares the answer to method path with this status: an operation's
    response, a path's x-other-methods (405) or the top-level x-unknown-path (404)."""
    paths = doc.get("paths") or {}
    if path not in paths:
        return "/x-unknown-path" if status == 404 else None
    item = paths[path]
    base = f"/paths/{escape(path)}"
    if method.lower() not in item:
        return f"{base}/x-other-methods" if status == 405 else None
    responses = item[method.lower()].get("responses") or {}
    for key in (str(status), "default"):
        if key in responses:
            return f"{base}/{method.lower()}/responses/{key}"
    return None


def response_errors(doc, resp, path, method):
    """How a real response disagrees with the document: status, content type, body and headers.
    An empty list when it matches."""
    where = f"{resp.status} to {method.upper()} {path}"
    ptr = response_pointer(doc, path, method, resp.status)
    if ptr is None:
        return [f"docs/openapi.yaml declares no {where}"]
    spec, ptr = follow(doc, ptr)
    errors = []

    for name, header in (spec.get("headers") or {}).items():
        header, hptr = follow(doc, f"{ptr}/headers/{escape(name)}")
        value = resp.header(name)
        if value is None:
            if header.get("required"):
                errors.append(f"{where}: required header {name} is missing")
            continue
        schema, sptr = follow(doc, f"{hptr}/schema")
        instance = value.strip()
        if schema.get("type") == "integer":
            if not re.fullmatch(r"[0-9]+", instance):
                errors.append(f"{where}: header {name}: {value!r} is not an integer")
                continue
            instance = int(instance)
        errors += [f"{where}: header {name}: {e}" for e in schema_errors(doc, sptr, instance)]

    content = spec.get("content") or {}
    if not content:
        if resp.body and method.upper() != "HEAD":
            errors.append(f"{where}: declares no content but has a body")
        return errors
    ctype = media_type(resp)
    if ctype not in content:
        return errors + [f"{where}: content type {ctype!r} is not among {sorted(content)}"]
    if method.upper() == "HEAD":
        return errors
    sptr = f"{ptr}/content/{escape(ctype)}/schema"
    if "schema" not in content[ctype]:
        return errors
    if ctype.endswith("json"):
        try:
            instance = resp.json()
        except ValueError as exc:
            return errors + [f"{where}: body is not JSON: {exc}"]
    else:
        instance = resp.body.decode("utf-8")
    return errors + [f"{where}: body: {e}" for e in schema_errors(doc, sptr, instance)]


# ---- the document on its own ------------------------------------------------------------------

class OpenAPIDocument(unittest.TestCase):
    """docs/openapi.yaml is a complete, self-consistent OpenAPI 3.1 document."""

    @classmethod
    def setUpClass(cls):
        cls.doc = load_doc()

    def test_openapi_is_version_3_1(self):
        self.assertIsInstance(self.doc, dict)
        self.assertRegex(str(self.doc.get("openapi")), r"^3\.1\.[0-9]+$")
        info = self.doc.get("info") or {}
        self.assertTrue(info.get("title"))
        self.assertTrue(info.get("version"))

    def test_openapi_every_ref_resolves(self):
        refs = 0
        for ptr, node in walk(self.doc):
            if "$ref" not in node or not isinstance(node["$ref"], str):
                continue
            refs += 1
            ref = node["$ref"]
            self.assertTrue(ref.startswith("#/"), f"{ptr}: only local $refs are used, not {ref!r}")
            try:
                pointer_get(self.doc, ref[1:])
            except (KeyError, IndexError, ValueError, TypeError):
                self.fail(f"{ptr}: $ref {ref!r} does not resolve")
        self.assertGreater(refs, 10)

    def test_openapi_operations_declare_their_status_codes(self):
        paths = self.doc.get("paths") or {}
        self.assertEqual(set(paths), {p for p, _ in EXPECTED_CODES})
        for path, item in paths.items():
            ops = {m for m in item if m in HTTP_METHODS}
            self.assertEqual(ops, {m for p, m in EXPECTED_CODES if p == path}, path)
            for method in ops:
                codes = set((item[method].get("responses") or {}).keys())
                self.assertEqual({str(c) for c in codes}, EXPECTED_CODES[(path, method)],
                                 f"{method.upper()} {path}")
                for code in codes:
                    resp, _ = follow(self.doc, f"/paths/{escape(path)}/{method}/responses/{code}")
                    self.assertTrue(resp.get("description"), f"{method} {path} {code}")
                    self.assertTrue(resp.get("content"), f"{method} {path} {code} has no content")

    def test_openapi_404_and_405_are_declared(self):
        resp, _ = follow(self.doc, "/x-unknown-path")
        self.assertIn("application/problem+json", resp.get("content") or {})
        for path in self.doc["paths"]:
            ptr = f"/paths/{escape(path)}/x-other-methods"
            resp, rptr = follow(self.doc, ptr)
            self.assertIn("Allow", resp.get("headers") or {}, path)
            header, _ = follow(self.doc, f"{rptr}/headers/Allow")
            self.assertTrue(header.get("required"), path)
            self.assertIn("application/problem+json", resp.get("content") or {}, path)

    def test_openapi_errors_are_problem_json(self):
        for path, item in self.doc["paths"].items():
            for method, op in item.items():
                if method not in HTTP_METHODS:
                    continue
                for code in op["responses"]:
                    resp, _ = follow(self.doc, f"/paths/{escape(path)}/{method}/responses/{code}")
                    types = set(resp["content"])
                    if code == "413":
                        # The service's own 413 is problem+json; libh2o's, above every
                        # route's limit, is plain text.
                        self.assertEqual(types, {"application/problem+json", "text/plain"})
                    elif int(code) >= 400:
                        self.assertEqual(types, {"application/problem+json"}, f"{path} {code}")

    def test_openapi_required_components_exist(self):
        comps = self.doc.get("components") or {}
        for name in ("ActivityEvent", "ActivityMessage", "Accepted", "Problem",
                     "ValidationProblem", "UnavailableProblem", "Health", "Ready"):
            self.assertIn(name, comps.get("schemas") or {})
        for name in ("RetryAfter", "RateLimitPolicy", "RateLimit", "Allow"):
            self.assertIn(name, comps.get("headers") or {})

    def test_openapi_schemas_are_valid_2020_12(self):
        count = 0
        for ptr, node in walk(self.doc):
            if ptr.endswith("/schema") or re.fullmatch(r"/components/schemas/[^/]+", ptr):
                jsonschema.Draft202012Validator.check_schema(node)
                count += 1
        self.assertGreater(count, 10)

    def test_openapi_examples_match_their_schemas(self):
        checked = 0
        for ptr, node in walk(self.doc):
            if "schema" not in node or not isinstance(node.get("schema"), dict):
                continue
            examples = []
            if "example" in node:
                examples.append(("example", node["example"]))
            for name, ex in (node.get("examples") or {}).items():
                examples.append((f"examples/{name}", ex.get("value")))
            for where, value in examples:
                schema = follow(self.doc, f"{ptr}/schema")[0]
                if schema.get("type") == "integer" and isinstance(value, str):
                    value = int(value)
                errors = schema_errors(self.doc, f"{ptr}/schema", value)
                self.assertFalse(errors, f"{ptr}/{where}: {errors}")
                checked += 1
        self.assertGreater(checked, 10)

    def test_openapi_batch_keys_and_encodings_are_declared(self):
        comps = self.doc.get("components") or {}
        for name in ("BatchRequest", "BatchAccepted", "BatchValidationProblem",
                     "EncodingProblem", "UnauthorizedProblem", "FieldError"):
            self.assertIn(name, comps.get("schemas") or {})
        field = comps["schemas"]["FieldError"]["properties"]["field"]
        self.assertGreaterEqual(field.get("minLength", 0), 1, "an error's field is never empty")
        schemes = comps.get("securitySchemes") or {}
        bearer = [s for s in schemes.values()
                  if s.get("type") == "http" and s.get("scheme") == "bearer"]
        api_key = [s for s in schemes.values() if s.get("type") == "apiKey"
                   and s.get("in") == "header" and s.get("name") == "X-API-Key"]
        self.assertTrue(bearer and api_key, schemes)
        self.assertNotIn("security", self.doc, "GET /health, /ready and /metrics need no key")
        for path in (ROUTE, BATCH):
            op = self.doc["paths"][path]["post"]
            with self.subTest(path):
                security = op.get("security") or []
                self.assertIn({}, security, "keys are optional (only when configured)")
                self.assertEqual({n for req in security for n in req}, set(schemes))
                params = [follow(self.doc, f"/paths/{escape(path)}/post/parameters/{i}")[0]
                          for i in range(len(op.get("parameters") or []))]
                self.assertIn(("Content-Encoding", "header"),
                              [(p.get("name"), p.get("in")) for p in params])
                resp, rptr = follow(self.doc, f"/paths/{escape(path)}/post/responses/401")
                header, _ = follow(self.doc, f"{rptr}/headers/WWW-Authenticate")
                self.assertTrue(header.get("required"))
                resp, rptr = follow(self.doc, f"/paths/{escape(path)}/post/responses/415")
                self.assertIn("Accept-Encoding", resp.get("headers") or {})
                resp, _ = follow(self.doc, f"/paths/{escape(path)}/post/responses/413")
                self.assertEqual(set(resp["content"]), {"application/problem+json", "text/plain"})

    def test_openapi_every_component_is_used(self):
        text = json.dumps(self.doc)
        for kind in ("schemas", "headers", "responses"):
            for name in self.doc["components"].get(kind) or {}:
                if (kind, name) == ("schemas", "ActivityMessage"):
                    continue  # the AMQP message body: documented, not part of an HTTP exchange
                self.assertIn(f'"#/components/{kind}/{name}"', text, f"{kind}/{name} is unused")


# ---- the document against the service --------------------------------------------------------

def _nested(depth):
    value = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"n": value}
    return value


def _raw_event(payload_text):
    """A request body (bytes) whose payload is written as payload_text, verbatim."""
    return ('{"userId":"u-1","eventType":"click","timestamp":"2023-10-27T10:00:00Z",'
            f'"payload":{payload_text}}}').encode("utf-8")


# (name, body, valid, field named on 400, whether the schema can express the rule)
# The schema cannot express two rules: depth (32 levels) and lengths in bytes (maxLength counts
# characters); and it reads 1e999 as a number like any other, where the API requires finite.
CONFORMANCE = [
    ("valid event", new_activity(), True, None, True),
    ("upper-case id", new_activity(id=str(uuid.uuid4()).upper()), True, None, True),
    ("offset and long fraction", new_activity(timestamp="2023-10-27T12:00:00.123456+02:00"),
     True, None, True),
    ("lower-case t and z", new_activity(timestamp="2023-10-27t10:00:00z"), True, None, True),
    ("leap second", new_activity(timestamp="2016-12-31T23:59:60Z"), True, None, True),
    ("Feb 29 in a leap year", new_activity(timestamp="2024-02-29T00:00:00Z"), True, None, True),
    ("empty payload", new_activity(payload={}), True, None, True),
    ("arrays inside objects inside arrays", new_activity(payload={"a": [{"b": [1, {"c": []}]}]}),
     True, None, True),
    ("int64 bounds", new_activity(payload={"max": 2**63 - 1, "min": -2**63}), True, None, True),
    ("255-byte userId", new_activity(userId="u" * 255), True, None, True),
    ("non-ASCII names", new_activity(userId="Zürich", eventType="ページ"), True, None, True),
    ("32 levels of payload", new_activity(payload=_nested(32)), True, None, True),
    ("missing userId", new_activity(userId=None), False, "userId", True),
    ("missing payload", new_activity(payload=None), False, "payload", True),
    ("unknown field", new_activity(colour="red"), False, "colour", True),
    ("empty userId", new_activity(userId=""), False, "userId", True),
    ("blank eventType", new_activity(eventType=" \u3000\u00a0"), False, "eventType", True),
    ("C0 control", new_activity(userId="a\u0001b"), False, "userId", True),
    ("C1 control", new_activity(eventType="a\u0085b"), False, "eventType", True),
    ("DEL", new_activity(eventType="a\u007fb"), False, "eventType", True),
    ("256-character userId", new_activity(userId="u" * 256), False, "userId", True),
    ("256-byte userId of 128 characters", new_activity(userId="é" * 128), False, "userId", False),
    ("userId a number", new_activity(userId=7), False, "userId", True),
    ("timestamp without offset", new_activity(timestamp="2023-10-27T10:00:00"), False,
     "timestamp", True),
    ("timestamp with a space", new_activity(timestamp="2023-10-27 10:00:00Z"), False,
     "timestamp", True),
    ("timestamp Feb 29 in a common year", new_activity(timestamp="2023-02-29T00:00:00Z"), False,
     "timestamp", False),
    ("payload an array", new_activity(payload=[1]), False, "payload", True),
    ("payload null", {**new_activity(), "payload": None}, False, "payload", True),
    ("payload a string", new_activity(payload="x"), False, "payload", True),
    ("payload $ key", new_activity(payload={"a": {"$set": 1}}), False, "payload", True),
    ("payload dotted key", new_activity(payload={"a": [{"b.c": 1}]}), False, "payload", True),
    ("payload empty key", new_activity(payload={"": 1}), False, "payload", True),
    ("payload NUL in key", new_activity(payload={"a\u0000b": 1}), False, "payload", True),
    ("payload nested array", new_activity(payload={"m": [[1, 2], [3, 4]]}), False, "payload",
     True),
    ("payload integer above int64", new_activity(payload={"n": 2**63}), False, "payload", True),
    ("payload 33 levels", new_activity(payload=_nested(33)), False, "payload", False),
    ("payload infinite number", _raw_event('{"f":1e999}'), False, "payload", False),
    ("id not a UUID", new_activity(id="not-a-uuid"), False, "id", True),
    ("id the nil UUID", new_activity(id=str(uuid.UUID(int=0))), False, "id", True),
    ("id a number", new_activity(id=7), False, "id", True),
]


class LiveResponses(ApiTestCase):
    """Real responses of activity-api match docs/openapi.yaml."""

    API_ENV = {"MAX_BODY_BYTES": "4096", "RATE_LIMIT_MAX_REQUESTS": "1000"}

    @classmethod
    def setUpClass(cls):
        cls.doc = load_doc()
        super().setUpClass()

    def assertConforms(self, resp, path, method):
        errors = response_errors(self.doc, resp, path, method)
        self.assertFalse(errors, "\n".join(errors) + f"\n{resp!r}")
        if method.upper() != "HEAD" and path in self.doc["paths"] \
                and method.lower() in self.doc["paths"][path]:
            # The harness's own check, used by the other suites, must agree.
            self.assertMatchesOpenAPI(resp, path, method)

    def test_openapi_202_and_its_message(self):
        harness.read_messages(self.api.queue, count=10**6, timeout=0.3)
        event = new_activity()
        resp = self.api.post(event)
        event_id = self.assertAccepted(resp)
        self.assertConforms(resp, ROUTE, "post")
        got = [(p, b) for p, b in harness.read_messages(self.api.queue, count=1, timeout=10,
                                                         settle=0.3)
               if p.message_id == event_id]
        self.assertEqual(len(got), 1, got)
        props, body = got[0]
        message = json.loads(body)
        errors = schema_errors(self.doc, "/components/schemas/ActivityMessage", message)
        self.assertFalse(errors, f"{errors}\n{body!r}")
        self.assertEqual(list(message), ["id", "userId", "eventType", "timestamp", "payload",
                                         "receivedAt"])
        self.assertEqual((props.content_type, props.delivery_mode, props.app_id),
                         ("application/json", 2, "activity-api"))
        self.assertIsInstance(props.timestamp, int)

    def test_openapi_request_schema_agrees_with_the_service(self):
        event_pointer = "/components/schemas/ActivityEvent"
        for name, body, valid, field, expressible in CONFORMANCE:
            with self.subTest(name):
                resp = self.api.post(body)
                self.assertEqual(resp.status, 202 if valid else 400, resp)
                self.assertConforms(resp, ROUTE, "post")
                if not valid:
                    fields = [e["field"] for e in resp.json()["errors"]]
                    self.assertIn(field, fields, resp)
                instance = json.loads(body) if isinstance(body, bytes) else body
                schema_says = not schema_errors(self.doc, event_pointer, instance)
                if expressible:
                    self.assertEqual(schema_says, valid,
                                     f"the schema says {'valid' if schema_says else 'invalid'}")
                elif not valid:
                    self.assertTrue(schema_says, "the rule became expressible: update the table")

    def test_openapi_400_body_errors(self):
        for name, raw in {"empty": b"", "not JSON": b"hello", "an array": b"[1]",
                          "truncated": b'{"userId":', "bad UTF-8": b'{"userId":"\xff"}',
                          "NaN": b'{"userId":NaN}', "trailing data": b"{} {}",
                          "65 levels": b'{"a":' * 65 + b"1" + b"}" * 65}.items():
            with self.subTest(name):
                resp = self.api.post(raw)
                self.assertEqual(resp.status, 400, resp)
                self.assertConforms(resp, ROUTE, "post")
                self.assertEqual([e["field"] for e in resp.json()["errors"]], ["body"], resp)

    def test_openapi_400_lists_every_field(self):
        resp = self.api.post({"userId": "", "eventType": 1, "timestamp": "2023-10-27 10:00",
                              "payload": [], "extra": 1, "id": "x"})
        self.assertConforms(resp, ROUTE, "post")
        body = resp.json()
        self.assertEqual([e["field"] for e in body["errors"]],
                         ["id", "userId", "eventType", "timestamp", "payload", "extra"])
        self.assertEqual(body["detail"], "6 invalid fields")

    def test_openapi_413(self):
        resp = self.api.post(new_activity(payload={"blob": "x" * 5000}))
        self.assertEqual(resp.status, 413, resp)
        self.assertConforms(resp, ROUTE, "post")

    def test_openapi_415(self):
        for ctype in ("text/plain", None, "application/json-seq"):
            with self.subTest(content_type=ctype):
                resp = self.api.post(json.dumps(new_activity()), content_type=ctype)
                self.assertEqual(resp.status, 415, resp)
                self.assertConforms(resp, ROUTE, "post")
        resp = self.api.post(b"{}", content_type="Application/JSON ; charset=utf-8")
        self.assertEqual(resp.status, 400, "media type parameters and case are accepted")

    def test_openapi_404(self):
        for method, path in (("GET", "/nope"), ("GET", "/"), ("POST", "/api/v1/activity"),
                             ("GET", "/api/v2/activities"), ("GET", "/health/x"),
                             ("POST", ROUTE + "/x"), ("GET", ROUTE + "/")):
            with self.subTest(f"{method} {path}"):
                resp = self.api.request(method, path, body=b"{}" if method == "POST" else None,
                                        headers={"Content-Type": "application/json"})
                self.assertEqual(resp.status, 404, resp)
                self.assertConforms(resp, path, method)

    def test_openapi_405(self):
        for method, path, allow in (("GET", ROUTE, "POST"), ("PUT", ROUTE, "POST"),
                                    ("DELETE", ROUTE, "POST"), ("OPTIONS", ROUTE, "POST"),
                                    ("HEAD", ROUTE, "POST"), ("POST", "/health", "GET, HEAD"),
                                    ("DELETE", "/ready", "GET, HEAD"),
                                    ("PUT", "/metrics", "GET, HEAD")):
            with self.subTest(f"{method} {path}"):
                resp = self.api.request(method, path)
                self.assertEqual(resp.status, 405, resp)
                self.assertEqual(resp.header("Allow"), allow, resp)
                self.assertConforms(resp, path, method)

    def test_openapi_health_ready_metrics(self):
        for path in ("/health", "/ready", "/metrics"):
            with self.subTest(path):
                resp = self.api.get(path)
                self.assertEqual(resp.status, 200, resp)
                self.assertConforms(resp, path, "get")
        self.assertEqual(self.api.get("/health").json()["amqp"], "connected")

    def test_openapi_metric_families_are_documented(self):
        text = self.api.get("/metrics").body.decode("utf-8")
        exposed = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
        with open(API_DOCS_PATH, encoding="utf-8") as f:
            documented = set(re.findall(r"`(activity_api_[a-z0-9_]+)`", f.read()))
        self.assertTrue(exposed)
        self.assertEqual(exposed - documented, set(), "exposed by /metrics, not in API_DOCS.md")
        self.assertEqual(documented - exposed, set(), "in API_DOCS.md, not exposed by /metrics")

    def test_openapi_429(self):
        api = self.start_api(env={"RATE_LIMIT_MAX_REQUESTS": "2", "RATE_LIMIT_WINDOW_MS": "60000"})
        src = harness.next_source_address()
        for _ in range(2):
            self.assertConforms(api.post(b"{}", source=src), ROUTE, "post")
        resp = api.post(new_activity(), source=src)
        self.assertEqual(resp.status, 429, resp)
        self.assertConforms(resp, ROUTE, "post")
        self.assertEqual(resp.header("RateLimit-Policy"), '"ip";q=2;w=60', resp)
        self.assertRegex(resp.header("RateLimit"), r'^"ip";r=0;t=[0-9]+$', resp)

    def test_openapi_503_when_the_broker_is_unreachable(self):
        # Nothing listens on a fresh free port: the API starts and keeps trying to connect.
        api = self.start_api(env={"RABBITMQ_URL": f"amqp://guest:guest@127.0.0.1:"
                                                  f"{harness.free_port()}/"},
                             ready_timeout=0)

        def health():
            try:
                return api.get("/health", timeout=2)
            except OSError:
                return None

        resp = self.wait_until(health, 30, "activity-api serves /health")
        self.assertEqual(resp.status, 200, resp)
        self.assertConforms(resp, "/health", "get")
        self.assertNotEqual(resp.json()["amqp"], "connected")
        self.assertFalse(resp.json()["ready"])

        resp = api.get("/ready")
        self.assertEqual(resp.status, 503, resp)
        self.assertConforms(resp, "/ready", "get")

        resp = api.post(new_activity())
        self.assertEqual(resp.status, 503, resp)
        self.assertConforms(resp, ROUTE, "post")
        self.assertEqual(harness.uuid_version(resp.json()["id"]), 7)
        client_id = str(uuid.uuid4())
        resp = api.post(new_activity(id=client_id.upper()))
        self.assertEqual(resp.status, 503, resp)
        self.assertConforms(resp, ROUTE, "post")
        self.assertEqual(resp.json()["id"], client_id, "the id to retry with")


    # -- the batch route, compressed bodies and API keys --

    def _event_ids_in_queue(self, queue, ids, timeout=10):
        """The (properties, body) of the messages of queue whose message_id is in ids."""
        wanted = set(ids)
        got = []
        for props, body in harness.read_messages(queue, count=10**6, timeout=timeout, settle=0.5):
            if props.message_id in wanted:
                got.append((props, body))
        return got

    def test_openapi_batch_202_and_its_messages(self):
        harness.read_messages(self.api.queue, count=10**6, timeout=0.3)
        client_id = str(uuid.uuid4())
        events = [new_activity(), new_activity(id=client_id.upper()), new_activity()]
        resp = self.api.post({"events": events}, path=BATCH)
        self.assertEqual(resp.status, 202, resp)
        self.assertConforms(resp, BATCH, "post")
        body = resp.json()
        self.assertEqual(list(body), ["status", "ids"], resp)
        ids = body["ids"]
        self.assertEqual(len(ids), 3)
        self.assertEqual(ids[1], client_id, "request order; the client's id lower-cased")
        self.assertEqual([harness.uuid_version(i) for i in (ids[0], ids[2])], [7, 7])
        got = self._event_ids_in_queue(self.api.queue, ids)
        self.assertEqual(sorted(p.message_id for p, _ in got), sorted(ids), "one message each")
        for props, raw in got:
            message = json.loads(raw)
            errors = schema_errors(self.doc, "/components/schemas/ActivityMessage", message)
            self.assertFalse(errors, f"{errors}\n{raw!r}")
            self.assertEqual(message["userId"], events[ids.index(props.message_id)]["userId"])
        self.assertEqual(schema_errors(self.doc, "/components/schemas/BatchRequest",
                                       {"events": events}), [])

    def test_openapi_batch_400_names_each_place(self):
        good = new_activity()
        resp = self.api.post({"events": [good, new_activity(userId="", timestamp="2023-10-27 10:00"),
                                         "oops", new_activity(payload={"a.b": 1}, colour="red")]},
                             path=BATCH)
        self.assertEqual(resp.status, 400, resp)
        self.assertConforms(resp, BATCH, "post")
        body = resp.json()
        self.assertEqual(body["title"], "Invalid batch")
        self.assertEqual([e["field"] for e in body["errors"]],
                         ["events[1].userId", "events[1].timestamp", "events[2]",
                          "events[3].payload", "events[3].colour"])
        self.assertEqual(body["detail"], "5 invalid fields")
        for name, batch, fields in (
                ("no events", {}, ["events"]),
                ("empty", {"events": []}, ["events"]),
                ("not an array", {"events": {}}, ["events"]),
                ("too many", {"events": [good] * 501}, ["events"]),
                ("unknown members", {"events": [good], "": 1, "a.b": 2, "body": 3},
                 ['[""]', '["a.b"]', '["body"]']),
                ("not an object", [good], ["body"])):
            with self.subTest(name):
                resp = self.api.post(batch, path=BATCH)
                self.assertEqual(resp.status, 400, resp)
                self.assertConforms(resp, BATCH, "post")
                self.assertEqual([e["field"] for e in resp.json()["errors"]], fields, resp)
                self.assertTrue(schema_errors(self.doc, "/components/schemas/BatchRequest", batch),
                                "the request schema refuses it too")
        resp = self.api.post({"events": [new_activity(userId="") for _ in range(70)]}, path=BATCH)
        self.assertConforms(resp, BATCH, "post")
        body = resp.json()
        self.assertEqual(len(body["errors"]), 64)
        self.assertEqual(body["detail"], "70 invalid fields (the first ones are listed)")

    def test_openapi_400_unknown_member_names(self):
        resp = self.api.post(new_activity(**{"": 1, "a.b": 2, "body": 3}))
        self.assertEqual(resp.status, 400, resp)
        self.assertConforms(resp, ROUTE, "post")
        self.assertEqual([e["field"] for e in resp.json()["errors"]], ['[""]', '["a.b"]', '["body"]'])

    def test_openapi_compressed_bodies(self):
        raw = json.dumps(new_activity()).encode()
        deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
        for coding, data in (("gzip", gzip.compress(raw)), ("x-gzip", gzip.compress(raw)),
                             ("GZIP, identity", gzip.compress(raw)),
                             ("deflate", zlib.compress(raw)),
                             ("deflate", deflater.compress(raw) + deflater.flush()),
                             ("identity", raw)):
            with self.subTest(coding):
                resp = self.api.post(data, headers={"Content-Encoding": coding})
                self.assertEqual(resp.status, 202, resp)
                self.assertConforms(resp, ROUTE, "post")
        resp = self.api.post(gzip.compress(json.dumps({"events": [new_activity()]}).encode()),
                             path=BATCH, headers={"Content-Encoding": "gzip"})
        self.assertEqual(resp.status, 202, resp)
        self.assertConforms(resp, BATCH, "post")
        for path in (ROUTE, BATCH):
            for coding in ("br", "zstd", "gzip;q=1", "gzip, gzip"):
                with self.subTest(path=path, coding=coding):
                    resp = self.api.post(raw, path=path, headers={"Content-Encoding": coding})
                    self.assertEqual(resp.status, 415, resp)
                    self.assertConforms(resp, path, "post")
                    self.assertEqual(resp.header("Accept-Encoding"), "gzip, deflate", resp)
            for coding, data in (("gzip", raw), ("deflate", b""), ("gzip", gzip.compress(raw)[:20]),
                                 ("gzip", gzip.compress(raw) + b"xx")):
                with self.subTest(path=path, corrupt=coding):
                    resp = self.api.post(data, path=path, headers={"Content-Encoding": coding})
                    self.assertEqual(resp.status, 400, resp)
                    self.assertConforms(resp, path, "post")
                    self.assertEqual(resp.json()["type"],
                                     "urn:activity-tracker:problem:invalid-encoding", resp)
        resp = self.api.post(raw, content_type="text/plain", headers={"Content-Encoding": "br"})
        self.assertEqual(resp.status, 415, resp)
        self.assertConforms(resp, ROUTE, "post")
        self.assertIsNone(resp.header("Accept-Encoding"), "the media type is checked first")

    def test_openapi_413_after_inflation_and_from_libh2o(self):
        bomb = gzip.compress(b"\0" * (2 << 20), 9)  # 2 MiB of zeros in about 2 KB
        for path, limit in ((ROUTE, 4096), (BATCH, 1 << 20)):
            with self.subTest(path):
                resp = self.api.post(bomb, path=path, headers={"Content-Encoding": "gzip"})
                self.assertEqual(resp.status, 413, resp)
                self.assertConforms(resp, path, "post")
                self.assertEqual(resp.json()["detail"], f"the body must be at most {limit} bytes")
                self.assertIsNotNone(resp.header("RateLimit"), "counted by the limiter")
                # libh2o answers from the Content-Length and closes the connection without
                # reading the body: send only the head, as a client sending Expect would.
                resp = self.api.post(b"", path=path, headers={
                    "Content-Length": str((1 << 20) + 1), "Expect": "100-continue"})
                self.assertEqual(resp.status, 413, resp)
                self.assertConforms(resp, path, "post")
                self.assertEqual(media_type(resp), "text/plain", "libh2o's, above both limits")
                self.assertIsNone(resp.header("RateLimit"), resp)

    def test_openapi_401_and_keys(self):
        key, other = "docs-test-key-0123456789", "another-key-abcdefghijkl"
        api = self.start_api(env={"API_KEYS": f"{key}, {other}", "RATE_LIMIT_MAX_REQUESTS": "1000"})
        src = harness.next_source_address()
        for path, body in ((ROUTE, new_activity()), (BATCH, {"events": [new_activity()]})):
            for name, headers in (("no key", {}), ("wrong key", {"X-API-Key": "wrong-key-0123456789"}),
                                  ("Basic", {"Authorization": "Basic dXNlcjpwYXNzd29yZA=="}),
                                  ("two keys", {"Authorization": f"Bearer {key}",
                                                "X-API-Key": other})):
                with self.subTest(path=path, case=name):
                    resp = api.post(body, path=path, headers=headers, source=src)
                    self.assertEqual(resp.status, 401, resp)
                    self.assertConforms(resp, path, "post")
                    self.assertEqual(resp.header("WWW-Authenticate"),
                                     'Bearer realm="activity-api"', resp)
                    self.assertIsNone(resp.header("RateLimit"), "checked before the limiter")
        resp = api.post(new_activity(), headers={"Authorization": f"bearer  {key}"}, source=src)
        self.assertEqual(resp.status, 202, resp)
        self.assertConforms(resp, ROUTE, "post")
        self.assertEqual(resp.header("RateLimit").split(";")[1], "r=999", "no 401 was counted")
        resp = api.post({"events": [new_activity()]}, path=BATCH, headers={"X-API-Key": other},
                        source=src)
        self.assertEqual(resp.status, 202, resp)
        self.assertConforms(resp, BATCH, "post")
        for path in ("/health", "/ready", "/metrics"):
            self.assertEqual(api.get(path).status, 200, f"{path} needs no key")
        metrics = api.get("/metrics").body.decode()
        self.assertIn('activity_api_http_responses_total{route="/api/v1/activities",status="401"} 4',
                      metrics)
        self.assertNotIn(key, api.log_text(), "keys are never logged")
        self.assertIn('"API_KEYS":"***"', api.log_text())

    def test_openapi_batch_503_when_the_broker_is_unreachable(self):
        api = self.start_api(env={"RABBITMQ_URL": f"amqp://guest:guest@127.0.0.1:"
                                                  f"{harness.free_port()}/"},
                             ready_timeout=0)

        def answer():
            try:
                return api.post({"events": [new_activity(id=str(uuid.uuid4())), new_activity()]},
                                path=BATCH, timeout=5)
            except OSError:
                return None

        resp = self.wait_until(answer, 30, "activity-api answers the batch")
        self.assertEqual(resp.status, 503, resp)
        self.assertConforms(resp, BATCH, "post")
        self.assertNotIn("id", resp.json(), "a batch's 503 has no id")

    def test_openapi_a_batch_is_one_request_for_the_limiter(self):
        api = self.start_api(env={"RATE_LIMIT_MAX_REQUESTS": "2", "RATE_LIMIT_WINDOW_MS": "60000"})
        src = harness.next_source_address()
        resp = api.post({"events": [new_activity() for _ in range(10)]}, path=BATCH, source=src)
        self.assertEqual(resp.status, 202, resp)
        self.assertRegex(resp.header("RateLimit"), r'^"ip";r=1;', resp)
        self.assertEqual(api.post(new_activity(), source=src).status, 202, "one budget, shared")
        resp = api.post({"events": [new_activity()]}, path=BATCH, source=src)
        self.assertEqual(resp.status, 429, resp)
        self.assertConforms(resp, BATCH, "post")


if __name__ == "__main__":
    unittest.main()
