"""Canary analysis against the baseline (``rollout.analysis``), through the API and the tick.

Per-host metrics are put into the suite's moto server with ``PutMetricData`` (the AWS boundary);
the engine reads them with one ``GetMetricData`` call per evaluation. moto does not wipe metrics
between tests and matches a query with dimensions on the metric name and dimensions only (not
the namespace), so every test uses a metric name of its own. The simulated fleet
(``tests/support/fleet.py``) deploys; ``tick(seconds)`` moves time.
"""
import datetime
import secrets

import botocore.awsrequest

from chalicelib import aws
from chalicelib.times import parse_time
from tests.conftest import boto_client
from tests.support.fleet import FLEET_HOSTS, create, events_of, put, rollout_of, tick

HOSTS = FLEET_HOSTS[:10]
CANARIES = HOSTS[:2]
BAKE = 300


def _metric():
    return f"Errors-{secrets.token_hex(4)}"


def _analysed_settings(metric, **analysis):
    return {"waves": [2, "100%"], "bake_seconds": BAKE,
            "analysis": dict({"namespace": "Web/Canary", "metric": metric, "statistic": "Sum"},
                             **analysis)}


def _publish(metric, values, at):
    """``values[host]`` as one data point per host at ``at`` (PutMetricData, as hosts would)."""
    data = [{"MetricName": metric, "Dimensions": [{"Name": "Host", "Value": host}],
             "Timestamp": at, "Value": float(value)} for host, value in values.items()]
    boto_client("cloudwatch").put_metric_data(Namespace="Web/Canary", MetricData=data)


def _good_version_then(api, fleet, **rollout):
    """1.0.0 everywhere (the previous good version), then 2.0.0 with ``rollout``'s wave 0 done."""
    create(api, HOSTS, rollout={"canary_hosts": CANARIES})  # kept by the update (merged)
    tick()
    fleet.round(HOSTS)
    assert tick(5)["rollouts"]["web"] == "succeeded"
    put(api, version="2.0.0", rollout=rollout)
    tick(10)
    assert sorted(h for h, _ in fleet.round(HOSTS)) == sorted(CANARIES)
    tick(20)
    summary = rollout_of(api)
    assert summary["wave_done_at"] is not None
    return parse_time(summary["wave_done_at"])


def test_a_canary_with_ten_times_the_baseline_errors_fails_and_rolls_back(api, fleet):
    metric = _metric()
    done = _good_version_then(api, fleet, **_analysed_settings(metric))
    summary = rollout_of(api)
    assert summary["state"] == "running" and "then canary analysis" in summary["reason"]
    assert summary["analysis"]["metric"] == metric
    assert BAKE < summary["analysis"]["seconds_left"] <= BAKE + 20  # wave 0 ended at tick(20)
    _publish(metric, {h: 10 if h in CANARIES else 1 for h in HOSTS},
             done + datetime.timedelta(seconds=90))
    assert tick(BAKE - 60)["rollouts"]["web"] == "running"  # still baking: not judged yet
    assert not events_of("web", "rollout.analysis_failed")
    assert tick(BAKE + 30)["rollouts"]["web"] == "rolling_back"
    [failed] = events_of("web", "rollout.analysis_failed")
    detail = failed["detail"]
    assert (detail["canary"], detail["baseline"], detail["threshold"]) == (10, 1, 2)
    assert detail["wave"] == 0 and detail["passed"] is False
    assert "10" in failed["message"] and "baseline 1" in failed["message"]
    [halted] = events_of("web", "rollout.halted")
    assert "canary analysis of wave 0 failed" in halted["message"] and "10 > threshold 2" in halted["message"]
    rolled = fleet.round(HOSTS)
    assert sorted(h for h, item in rolled if item["kind"] == "rollback") == sorted(CANARIES)
    assert fleet.at("1.0.0") == sorted(HOSTS)
    wave0 = rollout_of(api)["waves"][0]["analysis"]
    assert (wave0["canary"], wave0["baseline"], wave0["threshold"], wave0["passed"]) == (10, 1, 2, False)


def test_equal_errors_pass_and_the_next_wave_starts_then_the_last_wave_is_judged(api, fleet):
    metric = _metric()
    done = _good_version_then(api, fleet, **_analysed_settings(metric))
    _publish(metric, {h: 3 for h in HOSTS}, done + datetime.timedelta(seconds=60))
    assert tick(BAKE + 30)["rollouts"]["web"] == "running"
    [passed] = events_of("web", "rollout.analysis_passed")
    assert (passed["detail"]["canary"], passed["detail"]["baseline"]) == (3, 3)
    assert passed["detail"]["threshold"] == 6 and passed["detail"]["baseline_from"] == "measured"
    started = events_of("web", "rollout.wave_started")
    assert started[0]["detail"]["wave"] == 1 and started[0]["detail"]["by"] == "auto_promote"
    assert len(fleet.round(HOSTS)) == len(HOSTS) - len(CANARIES)
    # the last wave: no host left on 1.0.0, so the baseline measured after wave 0 is used
    tick(BAKE + 40)
    last_done = parse_time(rollout_of(api)["wave_done_at"])
    _publish(metric, {h: 4 for h in HOSTS}, last_done + datetime.timedelta(seconds=60))
    assert tick(BAKE + 40 + BAKE + 30)["rollouts"]["web"] == "succeeded"
    last = events_of("web", "rollout.analysis_passed")[0]["detail"]
    assert (last["wave"], last["canary"], last["baseline"], last["baseline_from"]) == (1, 4, 3, "previous")
    waves = rollout_of(api)["waves"]
    assert [w["analysis"]["passed"] for w in waves] == [True, True]


def test_no_data_fails_closed_by_default(api, fleet):
    metric = _metric()
    _good_version_then(api, fleet, **_analysed_settings(metric))
    assert tick(BAKE + 30)["rollouts"]["web"] == "rolling_back"
    [failed] = events_of("web", "rollout.analysis_failed")
    assert "no data for the canary" in failed["message"] and "on_missing is 'fail'" in failed["message"]
    assert failed["detail"]["canary"] is None and failed["detail"]["threshold"] is None


def test_no_data_passes_when_on_missing_says_so(api, fleet):
    metric = _metric()
    _good_version_then(api, fleet, **_analysed_settings(metric, on_missing="pass"))
    assert tick(BAKE + 30)["rollouts"]["web"] == "running"
    assert events_of("web", "rollout.analysis_passed")
    assert rollout_of(api)["wave"] == 1


def test_a_cloudwatch_error_holds_the_wave_and_is_asked_again(api, fleet):
    metric = _metric()
    done = _good_version_then(api, fleet, **_analysed_settings(metric))
    _publish(metric, {h: 1 for h in HOSTS}, done + datetime.timedelta(seconds=60))
    client = aws.client("cloudwatch")

    def throttled(**_kwargs):
        response = botocore.awsrequest.AWSResponse("https://monitoring", 400, {}, None)
        return response, {"Error": {"Code": "Throttling", "Message": "Rate exceeded"},
                          "ResponseMetadata": {"HTTPStatusCode": 400}}
    client.meta.events.register("before-call.cloudwatch.GetMetricData", throttled)
    try:
        assert tick(BAKE + 30)["rollouts"]["web"] == "running"
        assert tick(BAKE + 90)["rollouts"]["web"] == "running"
    finally:
        client.meta.events.unregister("before-call.cloudwatch.GetMetricData", throttled)
    summary = rollout_of(api)
    assert summary["wave"] == 0 and "could not read CloudWatch (Throttling" in summary["reason"]
    told = [e for e in events_of("web", "rollout.waiting") if "CloudWatch" in e["message"]]
    assert len(told) == 1  # told once, not every tick
    assert not events_of("web", "rollout.analysis_passed")
    assert tick(BAKE + 150)["rollouts"]["web"] == "running"
    assert rollout_of(api)["wave"] == 1 and events_of("web", "rollout.analysis_passed")


def test_bad_analysis_settings_are_refused_naming_the_field(api):
    body = {"name": "web", "version": "1.0.0", "hosts": HOSTS,
            "rollout": {"analysis": {"metric": "Errors", "statistic": "p999.5", "max_ratio": 1,
                                     "min_value": -1, "on_missing": "maybe", "colour": "red"}}}
    response = api.post("/api/v1/project", body)
    assert response.status == 400
    fields = response.json["fields"]
    for name in ("namespace", "statistic", "max_ratio", "min_value", "on_missing", "colour"):
        assert f"rollout.analysis.{name}" in fields, name
    ok = dict(body, rollout={"analysis": {"namespace": "Web", "metric": "Latency",
                                          "statistic": "p99", "max_ratio": 1.5}})
    created = api.post("/api/v1/project", ok)
    assert created.status == 201, created
    assert created.json["rollout"]["analysis"]["statistic"] == "p99"
