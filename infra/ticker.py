"""Run the app's scheduled and queue handlers locally, as EventBridge and SQS would on AWS.

``chalice local`` serves only HTTP routes; it runs no ``@app.schedule`` or ``@app.on_sqs_message``
handler. ``Ticker.run_once`` does one round: first the schedules — every ``rate(...)`` schedule
is invoked, a ``cron(...)`` schedule only when its expression matches the current minute (once
per minute) — then the queues: each SQS-triggered handler receives the waiting messages of its
queue, so the drive messages the ``tick`` schedule just sent are driven in the same round. Each
message is one invocation through ``chalice.test.Client(app).lambda_.invoke`` with a generated
event, so the stage's environment is applied exactly as for a Lambda invocation. The handlers
of ``CONCURRENT`` (the ``rollout_driver``) get their messages on a pool of threads, as Lambda
runs one invocation per message side by side (the same handler entry and context, the stage's
environment applied once around the pool): a rollout whose step hangs holds one thread, and a
round with many rollouts stays quick. A message is deleted only when its handler returned
without raising; otherwise it becomes visible again and SQS's redrive policy moves it to the
dead-letter queue after ``maxReceiveCount`` tries.
"""
import concurrent.futures
import datetime
import logging
import os

log = logging.getLogger("fabu.ticker")
_LOCAL_VISIBILITY = 30
#: Handlers whose messages are handled side by side: {handler name: threads}.
CONCURRENT = {"rollout_driver": 16}
#: At most this many messages of a concurrent handler per round (the tick sends at most 5,000).
MAX_CONCURRENT_MESSAGES = 5000
#: A concurrent handler's messages stay invisible this long while the round handles them.
_CONCURRENT_VISIBILITY = 120


def _cron_field_matches(field, value):
    if field in ("*", "?"):
        return True
    for part in str(field).split(","):
        step = 1
        if "/" in part:
            part, step = part.split("/")
            step = int(step)
        if part in ("*", "?"):
            low, high = 0, 10 ** 6
        elif "-" in part:
            low, high = (int(x) for x in part.split("-"))
        else:
            low = high = int(part)
        if low <= value <= high and (value - low) % step == 0:
            return True
    return False


def cron_matches(expression, moment):
    """True when a Chalice ``Cron`` (minutes, hours, day of month, month, ...) hits ``moment``."""
    return (_cron_field_matches(expression.minutes, moment.minute)
            and _cron_field_matches(expression.hours, moment.hour)
            and _cron_field_matches(expression.day_of_month, moment.day)
            and _cron_field_matches(expression.month, moment.month))


class Ticker:
    """Drives one app's event sources against the emulator's SQS."""

    def __init__(self, app, project_dir, stage="local", sqs=None):
        from chalice.test import Client
        self.app = app
        self.client = Client(app, stage_name=stage, project_dir=project_dir)
        self.sqs = sqs
        self._cron_done = {}

    def _sqs(self):
        if self.sqs is None:
            from localstack_client.session import Session
            self.sqs = Session(region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1")).client("sqs")
        return self.sqs

    def run_once(self, now=None):
        """One round: every due schedule, then every queue; returns ``{handler: outcome}``."""
        from chalice.app import Cron, Rate, ScheduledEventConfig, SQSEventConfig
        now = now or datetime.datetime.now(datetime.timezone.utc)
        outcome = {}
        for source in self.app.event_sources:
            if not isinstance(source, ScheduledEventConfig):
                continue
            expression = source.schedule_expression
            if isinstance(expression, Cron):
                minute = now.strftime("%Y%m%d%H%M")
                if not cron_matches(expression, now) or self._cron_done.get(source.name) == minute:
                    continue
                self._cron_done[source.name] = minute
            elif not isinstance(expression, (Rate, str)):
                continue
            outcome[source.name] = self._invoke(source.name,
                                                self.client.events.generate_cw_event(
                                                    source="aws.events", detail_type="Scheduled Event",
                                                    detail={}, resources=[]))
        for source in self.app.event_sources:
            if isinstance(source, SQSEventConfig):
                if source.name in CONCURRENT:
                    outcome[source.name] = self._drain_concurrently(source, CONCURRENT[source.name])
                else:
                    outcome[source.name] = self._drain(source)
        return outcome

    def _invoke(self, name, event):
        try:
            self.client.lambda_.invoke(name, event)
            return "ok"
        except Exception as exc:  # a handler failure is reported, the ticker keeps going
            log.exception("handler %s failed", name)
            return "error: %s" % exc

    def _drain(self, source):
        sqs = self._sqs()
        url = sqs.get_queue_url(QueueName=source.queue)["QueueUrl"]
        handled = failed = 0
        for _ in range(20):  # bounded per tick
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(10, source.batch_size),
                                      WaitTimeSeconds=0, VisibilityTimeout=_LOCAL_VISIBILITY,
                                      AttributeNames=["All"]).get("Messages", [])
            if not got:
                break
            for message in got:
                if self._invoke(source.name, self._event(source, message)) == "ok":
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                    handled += 1
                else:
                    failed += 1
        return {"handled": handled, "failed": failed}

    def _event(self, source, message):
        event = self.client.events.generate_sqs_event(
            message_bodies=[message["Body"]], queue_name=source.queue)
        record = event["Records"][0]
        record["messageId"] = message["MessageId"]
        record["receiptHandle"] = message["ReceiptHandle"]
        record["attributes"]["ApproximateReceiveCount"] = message.get(
            "Attributes", {}).get("ApproximateReceiveCount", "1")
        return event

    def _drain_concurrently(self, source, threads):
        """Every waiting message of ``source``'s queue (at most ``MAX_CONCURRENT_MESSAGES``), one
        invocation each on ``threads`` threads; the stage's environment is applied once around
        them all (``lambda_.invoke`` swaps ``os.environ`` per call, which threads must not race)."""
        from chalice.local import LambdaContext
        sqs = self._sqs()
        url = sqs.get_queue_url(QueueName=source.queue)["QueueUrl"]
        messages = {}
        while len(messages) < MAX_CONCURRENT_MESSAGES:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                      VisibilityTimeout=_CONCURRENT_VISIBILITY,
                                      AttributeNames=["All"]).get("Messages", [])
            fresh = [m for m in got if m["MessageId"] not in messages]
            if not fresh:
                break
            messages.update((m["MessageId"], m) for m in fresh)
        if not messages:
            return {"handled": 0, "failed": 0}
        scoped = self.client.lambda_._config.scope(self.client.lambda_._config.chalice_stage,
                                                   source.name)
        handler = self.app.handler_map[source.name]

        def invoke(message):
            context = LambdaContext(source.name, memory_size=scoped.lambda_memory_size,
                                    max_runtime_ms=(scoped.lambda_timeout or 60) * 1000)
            try:
                handler(self._event(source, message), context)
                return message
            except Exception:  # a handler failure is reported, the others go on
                log.exception("handler %s failed", source.name)
                return None

        with self.client.lambda_._patched_env_vars(scoped.environment_variables):
            with concurrent.futures.ThreadPoolExecutor(min(threads, len(messages)),
                                                       thread_name_prefix=source.name) as pool:
                done = [m for m in pool.map(invoke, messages.values()) if m is not None]
        for start in range(0, len(done), 10):
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(done[start:start + 10])])
        return {"handled": len(done), "failed": len(messages) - len(done)}
