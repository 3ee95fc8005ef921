"""What the rollout panel says a rollout is watched by, and the stage's freeze banner, in Chromium.

A real rollout of 2.0.0 over 1.0.0 with a CloudWatch alarm of the suite's emulator (its state
set with ``SetAlarmState``) and canary analysis on a metric put with ``PutMetricData`` (the AWS
boundary); hosts are simulated over HTTP; the tick that judges the bake runs at a later ``now``
(the minute tick, in-process, on the same emulator the live API reads)."""
import datetime
import re
import secrets
import uuid

from chalicelib.states import RolloutState
from chalicelib.times import parse_time
from tests.conftest import ADMIN_ARN, boto_client
from tests.web.console import (Host, confirm, create, deploy_everywhere, expecting, goto,
                               ready_release, rollout, shot)

NAMES = ["web-1.example.com", "web-2.example.com", "web-3.example.com"]
BAKE = 300


def _alarm(state):
    name = f"web-{uuid.uuid4().hex[:8]} 5xx"
    cloudwatch = boto_client("cloudwatch")
    cloudwatch.put_metric_alarm(AlarmName=name, MetricName="5xx", Namespace="Web",
                                Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1.0,
                                ComparisonOperator="GreaterThanThreshold")
    cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason="quiet")
    return name


def test_the_panel_shows_the_alarms_state_and_each_waves_analysis_numbers(page, live):
    from tests.support.fleet import tick
    expect = expecting()
    hosts = [Host(live, n) for n in NAMES]
    create(live, hosts=NAMES, rollout={"waves": [1, "100%"], "canary_hosts": NAMES[:1],
                                       "bake_seconds": 0})
    ready_release("web", "1.0.0")
    live.tick()
    assert deploy_everywhere(live, hosts)["state"] == RolloutState.SUCCEEDED

    alarm, metric = _alarm("OK"), f"Errors-{secrets.token_hex(4)}"
    analysis = {"namespace": "Web/Canary", "metric": metric, "statistic": "Sum", "max_ratio": 2}
    changed = live.request("PUT", "/api/v1/project/web", {"version": "2.0.0", "rollout": {
        "alarms": [alarm], "bake_seconds": BAKE, "analysis": analysis}})
    assert changed.status_code == 200, changed.text
    ready_release("web", "2.0.0")
    live.tick()
    assert [d["version"] for d in hosts[0].run_cron()] == ["2.0.0"]
    live.tick()
    summary = rollout(live)
    assert summary["wave_done_at"] and summary["watching"]["alarms"][0]["state"] == "OK"

    goto(page, "project/web")
    watched = page.locator(".rollout .watching")
    row = watched.locator(f".alarm[data-alarm='{alarm}']")
    expect(row).to_contain_text(alarm)
    expect(row.locator(".badge")).to_have_text("OK")
    spec = watched.locator(".analysis-spec")
    expect(spec).to_contain_text(f"Web/Canary {metric} Sum")
    expect(spec).to_contain_text("threshold = max(baseline × 2, 0)")
    expect(spec.locator("time.countdown")).to_have_text(re.compile(r"\d+:\d\d left"))

    boto_client("cloudwatch").set_alarm_state(AlarmName=alarm, StateValue="INSUFFICIENT_DATA",
                                              StateReason="no datapoints")
    done = parse_time(summary["wave_done_at"])
    values = {n: 10 if n == NAMES[0] else 1 for n in NAMES}
    boto_client("cloudwatch").put_metric_data(Namespace="Web/Canary", MetricData=[
        {"MetricName": metric, "Dimensions": [{"Name": "Host", "Value": n}],
         "Timestamp": done + datetime.timedelta(seconds=90), "Value": float(v)}
        for n, v in values.items()])
    tick(BAKE + 30)                                          # the bake is over: judged
    judged = rollout(live)["waves"][0]["analysis"]
    assert (judged["canary"], judged["baseline"], judged["threshold"], judged["passed"]) == (10, 1, 2, False)

    verdict = page.locator(".wave[data-wave='0'] .wave-analysis")
    expect(verdict).to_have_attribute("data-passed", "false")
    expect(verdict.locator(".canary")).to_have_text("10")
    expect(verdict.locator(".baseline")).to_have_text("1")
    expect(verdict.locator(".threshold")).to_have_text("2")
    expect(verdict).to_contain_text("Failed")
    expect(page.locator(".wave[data-wave='1'] .wave-analysis")).to_have_count(0)
    expect(row.locator(".badge")).to_have_text("Insufficient data")
    expect(page.locator(".timeline")).to_contain_text("Canary analysis failed")
    shot(page, "rollout-watching")


def test_the_freeze_banner_shows_the_freeze_and_an_admin_thaws_it(page, live):
    expect = expecting()
    until = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=3)).replace(
        microsecond=0)
    until_text = until.strftime("%Y-%m-%d %H:%M:%S UTC")
    frozen = live.request("POST", "/api/v1/freeze", {"reason": "end-of-year change freeze",
                                                     "until": until.strftime("%Y-%m-%dT%H:%M:%SZ")})
    assert frozen.status_code == 201, frozen.text
    page.reload()
    banner = page.locator("#freeze.freeze-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Deploys are frozen")
    expect(banner).to_contain_text("end-of-year change freeze")
    expect(banner).to_contain_text(until_text)                # the end in UTC (and local time)
    assert banner.locator(".actor").get_attribute("title") == ADMIN_ARN
    shot(page, "freeze-banner")

    confirm(page, "Thaw")
    expect(banner).to_have_count(0)
    assert live.request("GET", "/api/v1/freeze").json()["frozen"] is False
    page.get_by_role("button", name="Freeze the stage…").click()
    form = page.locator("#freeze .freeze-form")
    form.get_by_label("Reason").fill("incident 7")
    confirm(page, "Freeze")
    expect(page.locator("#freeze.freeze-banner")).to_contain_text("incident 7")
    shown = live.request("GET", "/api/v1/freeze").json()
    assert shown["frozen"] is True and shown["until"] is None and shown["by"] == ADMIN_ARN
    assert live.request("DELETE", "/api/v1/freeze").status_code == 200
