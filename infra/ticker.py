"""Run the app's scheduled and queue handlers locally, as EventBridge and SQS would on AWS.

``chalice local`` serves only HTTP routes; it runs no ``@app.schedule`` or ``@app.on_sqs_message``
handler. ``Ticker.run_once`` does one round: every ``rate(...)`` schedule is invoked, a
``cron(...)`` schedule only when its expression matches the current minute (once per minute),
and each SQS-triggered handler receives the waiting messages of its queue in batches, through
``chalice.test.Client(app).lambda_.invoke`` with generated events — so the stage's environment
is applied exactly as for a Lambda invocation. A message is deleted only when its handler
returned without raising; otherwise it becomes visible again and SQS's redrive policy moves it
to the dead-letter queue after ``maxReceiveCount`` tries.
"""
import datetime
import logging
import os

log = logging.getLogger("fabu.ticker")
_LOCAL_VISIBILITY = 30


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
        """One round of every schedule and queue; returns ``{handler: outcome}`` for logging."""
        from chalice.app import Cron, Rate, ScheduledEventConfig, SQSEventConfig
        now = now or datetime.datetime.now(datetime.timezone.utc)
        outcome = {}
        for source in self.app.event_sources:
            if isinstance(source, ScheduledEventConfig):
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
            elif isinstance(source, SQSEventConfig):
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
                event = self.client.events.generate_sqs_event(
                    message_bodies=[message["Body"]], queue_name=source.queue)
                record = event["Records"][0]
                record["messageId"] = message["MessageId"]
                record["receiptHandle"] = message["ReceiptHandle"]
                record["attributes"]["ApproximateReceiveCount"] = message.get(
                    "Attributes", {}).get("ApproximateReceiveCount", "1")
                if self._invoke(source.name, event) == "ok":
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                    handled += 1
                else:
                    failed += 1
        return {"handled": handled, "failed": failed}
