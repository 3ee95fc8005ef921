"""Helpers of the notification, gate and report tests: a webhook receiver, SNS observers, and a
runner of the notify queue's handler (the ticker ``make run`` uses).

``Receiver`` is a stdlib http.server on 127.0.0.1. It checks every request's ``X-Fabu-Signature``
against its secret, and answers from a script of behaviours — ``500``, ``403``, ``"timeout"``
(hang longer than the sender waits), a 3xx (to ``location``), then 200s — so tests can make it
fail on purpose. ``accepted`` holds the bodies it answered 2xx, in order.
"""
import hashlib
import hmac
import json
import threading
import uuid
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.conftest import ROOT, boto_client, drain


def notify_runner(resources, monkeypatch):
    """``run()`` drives the queue handlers like ``make run`` until the notify queue is empty.

    Failed messages come back at once (visibility 0) instead of after 30 s, so five attempts
    and the dead-letter redrive happen within one test.
    """
    from app import app
    from infra import ticker as ticker_module
    monkeypatch.setattr(ticker_module, "_LOCAL_VISIBILITY", 0)
    runner = ticker_module.Ticker(app, ROOT, sqs=boto_client("sqs"))
    url = resources["NotifyQueue"]

    def run(rounds=30):
        for _ in range(rounds):
            runner.run_once()
            attrs = boto_client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            if attrs["ApproximateNumberOfMessages"] == "0" and attrs["ApproximateNumberOfMessagesNotVisible"] == "0":
                return
        raise AssertionError("the notify queue did not empty")
    return run


def topic_observers():
    """``observe(topic_arn)`` → a function returning the messages SNS sent to that topic since."""
    sqs, sns, made = boto_client("sqs"), boto_client("sns"), []

    def make(topic_arn):
        url = sqs.create_queue(QueueName="observer-" + uuid.uuid4().hex[:10])["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sub = sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn,
                            Attributes={"RawMessageDelivery": "true"})["SubscriptionArn"]
        made.append((url, sub))
        return lambda: [json.loads(m["Body"]) if m["Body"].startswith("{") else m["Body"]
                        for m in drain(sqs, url)]
    yield make
    for url, sub in made:  # moto fails a publish to a topic whose SQS subscriber is gone
        sns.unsubscribe(SubscriptionArn=sub)
        sqs.delete_queue(QueueUrl=url)


def stage_topic():
    """The stage's SNS topic ARN, as the emulator knows it."""
    return [t["TopicArn"] for t in boto_client("sns").list_topics()["Topics"]
            if t["TopicArn"].endswith(":fabu-local-notifications")][0]


class Receiver:
    """A webhook endpoint answering ``plan`` (then ``default``); see the module docstring."""

    def __init__(self, secret, plan=(), default=200, hang_seconds=2.5, location=None):
        self.secret = secret
        self.location = location  # the Location header of 3xx answers
        self.plan = list(plan)
        self.default = default
        self.hang_seconds = hang_seconds
        self.requests = []   # every request: {"body", "signature_ok", "answer", "headers"}
        self.accepted = []   # bodies answered 2xx with a valid signature
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    def signature_ok(self, raw, header):
        expected = "sha256=" + hmac.new(self.secret.encode(), raw, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, header or "")

    def _next(self):
        with self._lock:
            return self.plan.pop(0) if self.plan else self.default

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                ok = receiver.signature_ok(raw, self.headers.get("X-Fabu-Signature"))
                answer = receiver._next()
                body = json.loads(raw)
                with receiver._lock:
                    receiver.requests.append({"body": body, "signature_ok": ok, "answer": answer,
                                              "headers": dict(self.headers)})
                if answer == "timeout":
                    time.sleep(receiver.hang_seconds)
                    answer = 200
                    late = True
                else:
                    late = False
                status = answer if ok else 401
                if 200 <= status < 300 and not late:
                    with receiver._lock:
                        receiver.accepted.append(body)
                try:
                    self.send_response(status)
                    if 300 <= status < 400 and receiver.location:
                        self.send_header("Location", receiver.location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender gave up waiting

        return Handler
