"""fabu's Chalice app: wiring only. Routes live in Blueprints, logic in ``chalicelib``."""
import json

from chalice import Chalice, Rate

from chalicelib import config, events
from chalicelib.api import artifacts as api_artifacts
from chalicelib.api import console as api_console
from chalicelib.api import controls as api_controls
from chalicelib.api import events as api_events
from chalicelib.api import hosts as api_hosts
from chalicelib.api import projects as api_projects
from chalicelib.api import reports as api_reports
from chalicelib.build import worker as builds
from chalicelib.notify import notifications as notify
from chalicelib.notify import reports
from chalicelib.projects import service as projects
from chalicelib.rollout import engine as rollouts
from chalicelib.auth.localauth import make_sigv4_middleware

app = Chalice(app_name="fabu")
app.register_middleware(make_sigv4_middleware(app), "http")
for blueprint in (api_projects, api_controls, api_artifacts, api_events, api_reports,
                  api_console, api_hosts):
    app.register_blueprint(blueprint.bp)

# A new version of a project plans its rollout; every stored event may become a notification.
projects.CHANGE_HOOKS.append(rollouts.on_project_change)
events.HOOKS.append(notify.enqueue)


@app.schedule(Rate(1, unit=Rate.MINUTES), name="tick")
def tick(event):
    """Drive every active rollout and apply scheduled updates (EventBridge, every minute)."""
    rollouts.tick()


@app.on_sqs_message(queue=config.build_queue_name(), batch_size=1, name="build_worker")
def build_worker(event):
    """Build one release per message; raising hands the message back to SQS (then the DLQ)."""
    for record in event:
        attempt = int(record.to_dict().get("attributes", {}).get("ApproximateReceiveCount", 1))
        builds.handle_build_message(json.loads(record.body), attempt=attempt)


@app.on_sqs_message(queue=config.notify_queue_name(), batch_size=1, name="notifier")
def notifier(event):
    """Deliver one queued event (SNS, webhooks, after-gate); raising lets SQS retry, then the DLQ."""
    for record in event:
        attempt = int(record.to_dict().get("attributes", {}).get("ApproximateReceiveCount", 1))
        notify.deliver(json.loads(record.body), attempt=attempt)


@app.schedule(reports.cron(), name="daily_report")
def daily_report(event):
    """Write yesterday's (UTC) report to S3 and post its summary to SNS (FABU_REPORT_CRON)."""
    reports.run_scheduled(event.to_dict())
