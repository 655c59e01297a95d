#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Helper of scripts/screenshots.sh: RabbitMQ management API calls, the MongoDB database of the
run, and the headless-Chromium screenshots of the management UI.

Usage: scripts/screenshots.py COMMAND [ARGS]   (see --help of each command)
  queue-state QUEUE                prints "absent", or "messages=N consumers=N"
  wait-consumers QUEUE N SECONDS   waits until QUEUE has at least N consumers
  delete-queue QUEUE               deletes QUEUE if it has no consumers (if-unused)
  publish-poison QUEUE N           publishes N messages the consumer must dead-letter
  db-exists URL | db-drop URL | db-count URL
  shoot --queue QUEUE --out DIR [--size WxH] [--poison N] [--timeout S]

Environment: RABBITMQ_MGMT_URL [http://127.0.0.1:15672] (credentials: its own userinfo, else
RABBITMQ_URL's, else guest/guest). Needs Debian's python3-selenium, chromium and
chromium-driver for "shoot", python3-pymongo for the db-* commands.
"""

import argparse
import base64
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

MGMT_URL = os.environ.get("RABBITMQ_MGMT_URL") or "http://127.0.0.1:15672"
RABBITMQ_URL = os.environ.get("RABBITMQ_URL") or "amqp://guest:guest@127.0.0.1:5672/"


class Failure(Exception):
    """An error to report in one line, without a traceback."""


def mgmt_base():
    parts = urllib.parse.urlsplit(MGMT_URL)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Failure(f"RABBITMQ_MGMT_URL is not an http(s) URL: {MGMT_URL!r}")
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def mgmt_credentials():
    for url in (MGMT_URL, RABBITMQ_URL):
        parts = urllib.parse.urlsplit(url)
        if parts.username is not None:
            return urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or "")
    return "guest", "guest"


def mgmt(method, path, body=None, timeout=10.0):
    """A management API request; returns (status, parsed JSON or None)."""
    user, password = mgmt_credentials()
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(mgmt_base() + path, data=data, method=method)
    req.add_header("Authorization",
                   "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            return resp.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (urllib.error.URLError, OSError) as exc:
        raise Failure(f"management API at {mgmt_base()} does not answer: {exc}") from exc


def qpath(queue):
    return "/api/queues/%2F/" + urllib.parse.quote(queue, safe="")


def queue_info(queue):
    status, body = mgmt("GET", qpath(queue))
    if status == 404:
        return None
    if status != 200 or body is None:
        raise Failure(f"GET {qpath(queue)}: HTTP {status}")
    return body


def cmd_queue_state(args):
    info = queue_info(args.queue)
    if info is None:
        print("absent")
    else:
        print(f"messages={info.get('messages', 0)} consumers={info.get('consumers', 0)}")


def cmd_wait_consumers(args):
    deadline = time.monotonic() + args.seconds
    while True:
        info = queue_info(args.queue)
        if info is not None and info.get("consumers", 0) >= args.count:
            return
        if time.monotonic() >= deadline:
            have = 0 if info is None else info.get("consumers", 0)
            raise Failure(f"{args.queue} has {have} consumers after {args.seconds} s, "
                          f"wanted {args.count}")
        time.sleep(0.5)


def cmd_delete_queue(args):
    status, _ = mgmt("DELETE", qpath(args.queue) + "?if-unused=true")
    if status in (200, 204):
        print(f"deleted queue {args.queue}")
    elif status == 404:
        print(f"queue {args.queue} is already gone")
    else:
        raise Failure(f"could not delete queue {args.queue} (HTTP {status}; in use?)")


# What activity-consumer must reject to the dead-letter queue: not JSON, and JSON that fails
# validation (no userId; a timestamp without offset; payload not an object).
POISON = [
    "this is not JSON",
    '{"id":"0190c3e2-0000-7000-8000-000000000001","eventType":"page_view",'
    '"timestamp":"2024-05-01T12:00:00.000Z","payload":{},"receivedAt":"2024-05-01T12:00:00.001Z"}',
    '{"id":"0190c3e2-0000-7000-8000-000000000002","userId":"user-1","eventType":"page_view",'
    '"timestamp":"2024-05-01 12:00:00","payload":{},"receivedAt":"2024-05-01T12:00:00.001Z"}',
    '{"id":"0190c3e2-0000-7000-8000-000000000003","userId":"user-1","eventType":"page_view",'
    '"timestamp":"2024-05-01T12:00:00.000Z","payload":[1,2],"receivedAt":"2024-05-01T12:00:00.001Z"}',
]


def cmd_publish_poison(args):
    for i in range(args.count):
        body = {
            "properties": {"content_type": "application/json", "delivery_mode": 2,
                           "app_id": "screenshots.sh"},
            "routing_key": args.queue,
            "payload": POISON[i % len(POISON)],
            "payload_encoding": "string",
        }
        status, answer = mgmt("POST", "/api/exchanges/%2F/amq.default/publish", body)
        if status != 200 or not (answer or {}).get("routed"):
            raise Failure(f"publishing a poison message to {args.queue}: HTTP {status} {answer}")
    print(f"published {args.count} poison messages to {args.queue}")


# ---- MongoDB -----------------------------------------------------------------------------------

def mongo(url):
    try:
        import pymongo
    except ImportError as exc:
        raise Failure("python3-pymongo is not installed (apt-get install python3-pymongo)") from exc
    try:
        db = pymongo.uri_parser.parse_uri(url).get("database")
    except Exception as exc:  # pymongo raises several types for a malformed URI
        raise Failure(f"not a MongoDB URL: {exc}") from exc
    if not db:
        raise Failure("DATABASE_URL names no database")
    return pymongo.MongoClient(url, serverSelectionTimeoutMS=10000), db


def cmd_db(args):
    client, db = mongo(args.url)
    try:
        if args.command == "db-exists":
            sys.exit(0 if db in client.list_database_names() else 1)
        elif args.command == "db-drop":
            client.drop_database(db)
            print(f"dropped database {db}")
        else:
            print(client[db]["activities"].count_documents({}))
    except Exception as exc:  # pymongo.errors.PyMongoError and socket errors
        if isinstance(exc, SystemExit):
            raise
        raise Failure(f"MongoDB: {exc}") from exc
    finally:
        client.close()


# ---- screenshots -------------------------------------------------------------------------------

def rate(stats, key):
    return float(((stats or {}).get(key + "_details") or {}).get("rate") or 0.0)


def wait_for(what, seconds, check):
    """Polls check() until it returns a true value, which it returns."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise Failure(f"timed out after {seconds:.0f} s waiting for {what}")
        time.sleep(0.5)


def cmd_shoot(args):
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys
    except ImportError as exc:
        raise Failure("python3-selenium is not installed (apt-get install python3-selenium)") from exc
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError as exc:
        raise Failure(f"--size must look like 1400x900, not {args.size!r}") from exc
    for path in (args.chromium, args.chromedriver):
        if not os.access(path, os.X_OK):
            raise Failure(f"{path} not found (apt-get install chromium chromium-driver)")
    os.makedirs(args.out, exist_ok=True)
    dlq = args.queue + ".dlq"

    # The broker's own figures first: the pictures are taken only once they show the flow.
    def flowing():
        _, ov = mgmt("GET", "/api/overview")
        q, d = queue_info(args.queue), queue_info(dlq)
        if not ov or q is None or d is None:
            return None
        qs = q.get("message_stats")
        if (rate(ov.get("message_stats"), "publish") > 0 and rate(qs, "publish") > 0
                and rate(qs, "ack") > 0 and d.get("messages", 0) >= args.poison):
            return ov, q, d
        return None

    ov, q, d = wait_for(f"publish and ack rates on {args.queue} and {args.poison} messages "
                        f"in {dlq}", args.timeout, flowing)
    print(f"broker: publish {rate(ov['message_stats'], 'publish'):.0f}/s overall; "
          f"{args.queue}: publish {rate(q['message_stats'], 'publish'):.0f}/s, "
          f"ack {rate(q['message_stats'], 'ack'):.0f}/s, {q.get('consumers', 0)} consumers, "
          f"{q.get('messages', 0)} messages; {dlq}: {d.get('messages', 0)} messages")

    opts = webdriver.ChromeOptions()
    opts.binary_location = args.chromium
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--hide-scrollbars", f"--window-size={width},{height}", "--force-device-scale-factor=1",
              "--lang=en-US", "--no-first-run", "--disable-extensions"):
        opts.add_argument(a)
    driver = webdriver.Chrome(service=Service(args.chromedriver), options=opts)
    try:
        driver.set_page_load_timeout(30)
        # The window size includes the (invisible) browser frame; the page gets exactly WxH.
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": width, "height": height, "deviceScaleFactor": 1,
                                "mobile": False})
        base = mgmt_base()

        # The UI re-renders its pages every 5 s, which turns element handles stale: the checks
        # read the page in one script call each, and a check that fails is tried again.
        def js(script):
            try:
                return driver.execute_script(script)
            except WebDriverException:
                return None

        def visible_text():
            return js("return document.body ? document.body.innerText : ''") or ""

        def charts_drawn():
            # flot draws each chart into a canvas once the page has its samples.
            return (js("return document.querySelectorAll('div.chart canvas.flot-base').length")
                    or 0) >= 2

        def attempt(action):
            def run():
                try:
                    action()
                    return True
                except WebDriverException:
                    return False
            return run

        def save(name, ready_what, ready):
            wait_for(ready_what, 30, ready)
            time.sleep(args.settle)  # let flot finish drawing and the page settle
            path = os.path.join(args.out, name)
            if not driver.save_screenshot(path):
                raise Failure(f"could not save {path}")
            print(f"saved {path}")

        def login():
            driver.find_element(By.NAME, "username").send_keys(user)
            driver.find_element(By.NAME, "password").send_keys(password)
            driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()

        user, password = mgmt_credentials()
        driver.get(base + "/")
        wait_for("the login form", 30, lambda: js("return !!document.getElementsByName('username').length"))
        wait_for("the login form to take the credentials", 30, attempt(login))
        # Logged in: the header shows the user and a "Log out" button.
        wait_for("the logged-in header (wrong credentials?)", 30,
                 lambda: js("return !!document.querySelector('#logout input[type=submit]')"))

        driver.get(base + "/#/")
        save("rabbitmq-overview.png", "the overview's message rates chart",
             lambda: charts_drawn() and "Message rates" in visible_text())

        # The queues page lists every queue of the broker; its name filter (applied on Enter,
        # a substring match) keeps this run's two.
        driver.get(base + "/#/queues")

        def filter_queues():
            box = driver.find_element(By.ID, "queues-name")
            box.clear()
            box.send_keys(args.queue + Keys.RETURN)

        wait_for("the queues page's filter", 30, attempt(filter_queues))

        def listed():
            names = js("return Array.from(document.querySelectorAll("
                       "\"table.list a[href^='#/queues/']\")).map(a => a.textContent.trim())")
            return (names and args.queue in names and dlq in names
                    and all(args.queue in n for n in names))

        save("rabbitmq-queues.png", f"only {args.queue} and {dlq} in the queues table", listed)

        driver.get(base + "/#/queues/%2F/" + urllib.parse.quote(args.queue, safe=""))
        save("rabbitmq-queue.png", f"the page of queue {args.queue}",
             lambda: f"Queue {args.queue}" in visible_text() and charts_drawn())
    finally:
        driver.quit()


def main():
    parser = argparse.ArgumentParser(
        description="Helper of scripts/screenshots.sh (management API, MongoDB, screenshots).")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("queue-state", help='print "absent" or "messages=N consumers=N"')
    p.add_argument("queue")
    p.set_defaults(func=cmd_queue_state)
    p = sub.add_parser("wait-consumers", help="wait until a queue has N consumers")
    p.add_argument("queue")
    p.add_argument("count", type=int)
    p.add_argument("seconds", type=float)
    p.set_defaults(func=cmd_wait_consumers)
    p = sub.add_parser("delete-queue", help="delete a queue that has no consumers")
    p.add_argument("queue")
    p.set_defaults(func=cmd_delete_queue)
    p = sub.add_parser("publish-poison", help="publish N messages the consumer dead-letters")
    p.add_argument("queue")
    p.add_argument("count", type=int)
    p.set_defaults(func=cmd_publish_poison)
    for name, what in (("db-exists", "exit 0 when the URL's database exists"),
                       ("db-drop", "drop the URL's database"),
                       ("db-count", "print the documents in the URL's database's activities")):
        p = sub.add_parser(name, help=what)
        p.add_argument("url")
        p.set_defaults(func=cmd_db)
    p = sub.add_parser("shoot", help="log into the management UI and save three screenshots")
    p.add_argument("--queue", required=True)
    p.add_argument("--out", required=True, help="directory for the PNG files")
    p.add_argument("--size", default="1400x900", help="browser window, WIDTHxHEIGHT")
    p.add_argument("--poison", type=int, default=1,
                   help="wait until the dead-letter queue holds this many messages")
    p.add_argument("--timeout", type=float, default=60,
                   help="seconds to wait for the broker to show the flow")
    p.add_argument("--settle", type=float, default=2.0,
                   help="seconds between a page being ready and its screenshot")
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    p.set_defaults(func=cmd_shoot)
    args = parser.parse_args()
    try:
        args.func(args)
    except Failure as exc:
        print(f"screenshots.py: error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
