"""fabu's Chalice app: wiring only. Routes live in Blueprints, logic in ``chalicelib``."""
import json

from chalice import Chalice, Rate

from chalicelib import config
from chalicelib.api import (artifacts, console, controls, events, freeze, hosts, members, projects,
                            reports)
from chalicelib.auth.localauth import make_sigv4_middleware
from chalicelib.build import worker
from chalicelib.notify import notifications
from chalicelib.notify import reports as daily_reports
from chalicelib.rollout import tick as rollout_tick

app = Chalice(app_name="fabu")
app.register_middleware(make_sigv4_middleware(app), "http")
for blueprint in (projects, controls, artifacts, events, reports, freeze, console, hosts, members):
    app.register_blueprint(blueprint.bp)


@app.schedule(Rate(1, unit=Rate.MINUTES), name="tick")
def tick(event):
    """Drive every active rollout and apply scheduled updates (EventBridge, every minute)."""
    rollout_tick.run()


@app.on_sqs_message(queue=config.build_queue_name(), batch_size=1, name="build_worker")
def build_worker(event):
    """Build one release per message; raising hands the message back to SQS (then the DLQ)."""
    for record in event:
        attempt = int(record.to_dict().get("attributes", {}).get("ApproximateReceiveCount", 1))
        worker.handle_build_message(json.loads(record.body), attempt=attempt)


@app.on_sqs_message(queue=config.notify_queue_name(), batch_size=1, name="notifier")
def notifier(event):
    """Deliver one queued event (SNS, webhooks, after-gate); raising lets SQS retry, then the DLQ."""
    for record in event:
        attempt = int(record.to_dict().get("attributes", {}).get("ApproximateReceiveCount", 1))
        notifications.deliver(json.loads(record.body), attempt=attempt)


@app.schedule(daily_reports.cron(), name="daily_report")
def daily_report(event):
    """Write yesterday's (UTC) report to S3 and post its summary to SNS (FABU_REPORT_CRON)."""
    daily_reports.run_scheduled(event.to_dict())
