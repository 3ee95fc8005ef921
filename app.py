"""fabu's Chalice app: wiring only. Routes live in Blueprints, logic in ``chalicelib``."""
import json
import logging

from chalice import Chalice, Rate

from chalicelib import config
from chalicelib.api import (artifacts, console, controls, events, freeze, hosts, members, projects,
                            promotions, reports)
from chalicelib.api import audit as audit_api
from chalicelib.api import releases as releases_api
from chalicelib.auth.localauth import make_sigv4_middleware
from chalicelib.build import worker
from chalicelib.notify import notifications
from chalicelib.notify import reports as daily_reports
from chalicelib.rollout import driver
from chalicelib.rollout import tick as rollout_tick

app = Chalice(app_name="fabu")
# Chalice sets its "fabu" logger (the parent of every fabu.* logger) to ERROR unless debug: the
# warnings fabu logs (a tick's skipped rollouts, a dropped drive message) must reach the logs.
app.log.setLevel(logging.WARNING)
app.register_middleware(make_sigv4_middleware(app), "http")
app.register_middleware(audit_api.request_ids, "http")  # audit entries carry the request id
app.register_blueprint(audit_api.bp)
app.register_blueprint(releases_api.bp)
for blueprint in (projects, controls, artifacts, events, reports, freeze, console, hosts, members,
                  promotions):
    app.register_blueprint(blueprint.bp)


@app.schedule(Rate(1, unit=Rate.MINUTES), name="tick")
def tick(event):
    """Apply scheduled updates, then one drive message per active rollout (EventBridge, every
    minute); what cannot be queued is driven here."""
    rollout_tick.run(queue=config.drive_queue_name())


@app.on_sqs_message(queue=config.drive_queue_name(), batch_size=1, name="rollout_driver",
                    maximum_concurrency=driver.MAX_CONCURRENCY)
def rollout_driver(event):
    """Drive one rollout one step per message; never raises for the rollout's own failure."""
    return [driver.handle(record.body) for record in event]


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
