"""``fabu watch`` says what a running rollout is watched by: its alarms with their last state (an
alarm of the suite's CloudWatch emulator, flipped with ``SetAlarmState`` as a user does with
``aws cloudwatch set-alarm-state``), the time left, and the stage's freeze."""
import uuid

from tests.cli.support import fabu, ready_release, write_yaml
from tests.conftest import ADMIN_ARN, boto_client


def _alarm(state):
    name = f"shop-{uuid.uuid4().hex[:8]} p99 latency"
    cloudwatch = boto_client("cloudwatch")
    cloudwatch.put_metric_alarm(AlarmName=name, MetricName="Latency", Namespace="Shop",
                                Statistic="Average", Period=60, EvaluationPeriods=1, Threshold=1.0,
                                ComparisonOperator="GreaterThanThreshold")
    cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason="set by the test")
    return name


def test_watch_names_the_alarms_their_state_the_time_left_and_the_freeze(live, tmp_path):
    latency = _alarm("OK")
    project = f"""\
name: shop
version: 1.0.0
hosts: [shop-1.example.com, shop-2.example.com]
scripts: {{start: echo start}}
rollout:
  waves: [1, "100%"]
  bake_seconds: 600
  alarms: ["{latency}"]
  alarm_watch_seconds: 900
"""
    code, out, err = fabu(live, "project", "create", "-f", write_yaml(tmp_path, project))
    assert code == 0, err
    ready_release("shop", "1.0.0")
    live.tick()
    live.tick()
    code, out, err = fabu(live, "watch", "shop", "--interval", "0.2", "--timeout", "0.5")
    assert code == 9, (out, err)
    assert f"alarms: {latency} OK" in err

    assert fabu(live, "freeze", "--reason", "quarter close")[0] == 0
    boto_client("cloudwatch").set_alarm_state(AlarmName=latency, StateValue="ALARM",
                                              StateReason="Threshold Crossed: 3 datapoints > 1.0")
    code, out, err = fabu(live, "watch", "shop", "--interval", "0.2", "--timeout", "0.5")
    assert f"freeze: the stage is frozen by {ADMIN_ARN} until thawed: quarter close" in err
    live.tick()                                              # the tick reads the alarm: it fired
    code, out, err = fabu(live, "watch", "shop", "--interval", "0.2", "--timeout", "0.5")
    assert f"alarms: {latency} ALARM" in err, err
    assert f"{latency}: Threshold Crossed: 3 datapoints > 1.0" in err
    assert fabu(live, "thaw")[0] == 0
    code, out, err = fabu(live, "watch", "shop", "--interval", "0.2", "--timeout", "0.5")
    assert "freeze:" not in err and code == 4                # halted by the alarm: exit 4
