"""Clients that leave before their answer. Run under ASan+UBSan in CI (scripts/test.sh runs this
file against the build-asan binary): any use of a request after it was gone shows up as a
sanitizer report, which makes the API exit non-zero and writes non-JSON lines to its log — both
checked by the harness when the API is stopped."""

import json
import socket
import time
import unittest
import uuid

import harness
from harness import ApiTestCase, new_activity

REQUEST_TEMPLATE = ("POST /api/v1/activities HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    "Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n{body}")


def raw_request(body):
    data = json.dumps(body, separators=(",", ":"))
    return REQUEST_TEMPLATE.format(length=len(data.encode()), body=data).encode()


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


class ClientLeavesEarly(ApiTestCase):
    API_ENV = {"RATE_LIMIT_MAX_REQUESTS": "100000", "RATE_LIMIT_MAX_CLIENTS": "64",
               "PUBLISH_CONFIRM_TIMEOUT_MS": "1000"}

    def send_and_leave(self, count, linger_reset):
        """Opens count connections, sends one event on each and closes at once: with RST
        (SO_LINGER 0) when linger_reset, else with FIN."""
        ids = []
        for _ in range(count):
            event = new_activity(id=str(uuid.uuid4()))
            ids.append(event["id"])
            s = socket.create_connection(("127.0.0.1", self.api.port), timeout=5)
            if linger_reset:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.sendall(raw_request(event))
            s.close()
        return ids

    def test_disconnect_before_answer_is_safe(self):
        sent = self.send_and_leave(300, linger_reset=False)
        sent += self.send_and_leave(300, linger_reset=True)

        # Every request the server read was either answered into a closed socket or given up:
        # nothing may stay parked, and the process must keep serving.
        def settled():
            text = self.api.get("/metrics").body.decode()
            return metric(text, "activity_api_parked_requests") == 0 and \
                metric(text, "activity_api_publish_inflight") == 0
        self.wait_until(settled, 15, "parked requests to settle")
        self.assertEqual(self.api.get("/health").status, 200)
        last = new_activity(id=str(uuid.uuid4()))
        self.assertAccepted(self.api.post(json.dumps(last)))

        # What the broker confirmed is in the queue once each, and nothing else is.
        messages = harness.read_messages(self.api.queue, len(sent) + 1, timeout=10, settle=1.0)
        ids = [json.loads(body)["id"] for _, body in messages]
        self.assertEqual(len(ids), len(set(ids)), "a message was published twice")
        self.assertLessEqual(set(ids), set(sent) | {last["id"]})
        self.assertIn(last["id"], ids)

    def test_disconnect_while_draining_is_safe(self):
        api = self.start_api(env={"RATE_LIMIT_MAX_REQUESTS": "100000", "RATE_LIMIT_MAX_CLIENTS": "64",
                                  "SHUTDOWN_GRACE_MS": "3000"})
        sockets = []
        for _ in range(200):
            s = socket.create_connection(("127.0.0.1", api.port), timeout=5)
            s.sendall(raw_request(new_activity()))
            sockets.append(s)
        api.signal(15)
        for s in sockets[::2]:
            s.close()
        time.sleep(0.05)
        for s in sockets[1::2]:
            s.close()
        rc = api.proc.wait(timeout=20)  # one signal only: a second one means "exit at once"
        self.assertEqual(rc, 0, api.log_tail())
        self.assertEqual(api.log_problems(), [])


if __name__ == "__main__":
    unittest.main()
