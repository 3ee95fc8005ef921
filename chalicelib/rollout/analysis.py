"""Canary analysis (``rollout.analysis``): a wave's hosts against the hosts still on the old version.

At the end of a wave's bake the engine asks ``judge``: one CloudWatch ``GetMetricData`` call reads
``statistic`` of ``namespace``/``metric`` per host (the dimension ``dimension`` = the host name)
over the bake, from the wave's finish to now, in one period (the bake rounded up to whole
minutes, at least 60 s). The **canary** is the rollout's hosts already on the new version
(``succeeded``/``skipped`` in the released waves), the **baseline** its hosts still ``waiting`` in
later waves; at most ``MAX_SAMPLE`` of each are read, the same ones every time (the plan's hash
order). Each group's value is the mean of its hosts' values; hosts without a data point are left
out. The wave fails when ``canary > max(baseline × max_ratio, min_value)``.

* No baseline (the last wave: every host is on the new version), or a baseline without data:
  the baseline measured at the latest earlier evaluation of this rollout is used; without one,
  ``on_missing`` decides (``"fail"``, the default: fail closed; ``"pass"``). A canary without
  data is decided by ``on_missing`` too.
* Each evaluation is stored on the rollout (``Rollout.analysis``: one entry per wave, at most
  ``MAX_WAVES``) and recorded (``rollout.analysis_passed`` / ``rollout.analysis_failed``, with
  ``canary``, ``baseline``, ``threshold``, ``wave``). A wave finished again since (a resume) is
  evaluated again; otherwise an evaluation is never repeated.
* A CloudWatch error is no verdict: the wave waits, with the error as its reason, and the next
  tick asks again. It never passes by accident.

``problems`` is what the project validator reports about the setting. See ``docs/rollouts.md``.
"""
import dataclasses
import datetime
import logging
import math
import re
import time
from typing import Any

import botocore.exceptions

from chalicelib import aws
from chalicelib.models import HostState, Rollout
from chalicelib.projects.schema import MAX_WAVES
from chalicelib.rollout import hostitems, plan, store
from chalicelib.states import HostStatus, RolloutState
from chalicelib.times import format_time, parse_time

log = logging.getLogger("fabu.analysis")

FIELDS = ("namespace", "metric", "dimension", "statistic", "max_ratio", "min_value", "on_missing")
DEFAULTS = {"dimension": "Host", "statistic": "Average", "max_ratio": 2, "min_value": 0,
            "on_missing": "fail"}
REQUIRED = ("namespace", "metric")
STATISTICS = ("Average", "Sum", "Minimum", "Maximum", "SampleCount")
#: A percentile statistic: ``p99``, ``p99.9``, ``p50``.
PERCENTILE_RE = re.compile(r"p(?:100|\d{1,2})(?:\.\d{1,2})?")
ON_MISSING = ("fail", "pass")
MAX_RATIO = 1000.0
MAX_NAME = 255
#: Hosts read per group (canary, baseline): 2 × 100 queries, under GetMetricData's 500.
MAX_SAMPLE = 100
#: The least time an evaluation needs; with less left in the tick's budget it waits a tick.
MIN_SECONDS = 5.0
#: Host statuses that run the new version.
_ON_NEW = frozenset({HostStatus.SUCCEEDED, HostStatus.SKIPPED})


@dataclasses.dataclass
class Verdict:
    """``passed``: True/False, or None when there is no verdict yet (``reason``, if any, is why
    the wave waits)."""
    passed: bool | None
    reason: str | None = None


def configured(settings: dict) -> dict | None:
    """The rollout's analysis with its defaults filled in, or None when it has none."""
    value = settings.get("analysis")
    if not isinstance(value, dict) or not value.get("namespace") or not value.get("metric"):
        return None
    return dict(DEFAULTS, **value)


def period_seconds(settings: dict) -> int:
    """The bake rounded up to whole minutes (at least 60 s): the one period read per host."""
    return max(60, math.ceil(int(settings.get("bake_seconds") or 0) / 60) * 60)


def bake_seconds(settings: dict) -> int:
    """How long a wave bakes: ``bake_seconds``, at least a minute of data when analysed."""
    bake = int(settings.get("bake_seconds") or 0)
    return max(bake, 60) if configured(settings) else bake


def evaluated(rollout: Rollout, wave: int) -> dict | None:
    """The stored evaluation of ``wave`` since the wave last finished, or None."""
    entries = rollout.analysis or []
    entry = entries[wave] if wave < len(entries) else None
    if not isinstance(entry, dict) or rollout.wave_done_at is None:
        return None
    return entry if parse_time(entry["at"]) >= rollout.wave_done_at else None


def at_bake_end(rollout: Rollout, wave: int, now: datetime.datetime, actor: str,
                deadline: float | None = None) -> Verdict | None:
    """What the engine does with the finished ``wave`` (``rollout.wave_done_at`` set): None
    without analysis; else wait for the bake's end (``passed`` None and the bake as ``reason``),
    then ``judge``'s verdict (a failure's ``reason`` names both numbers)."""
    settings = store.settings(rollout)
    spec = configured(settings)
    if spec is None:
        return None
    until = rollout.wave_done_at + datetime.timedelta(seconds=bake_seconds(settings))
    if now < until and evaluated(rollout, wave) is None:
        return Verdict(None, f"wave {wave} done: baking until {format_time(until)}, then canary "
                             f"analysis of {spec['metric']} {spec['statistic']}")
    verdict = judge(rollout, wave, now, actor, deadline)
    if verdict.passed is False:
        return Verdict(False, f"canary analysis of wave {wave} failed: {verdict.reason}")
    return verdict


def judge(rollout: Rollout, wave: int, now: datetime.datetime, actor: str,
          deadline: float | None = None) -> Verdict:
    """Evaluate ``wave`` at the end of its bake (once; see the module docstring)."""
    spec = configured(store.settings(rollout))
    if spec is None:
        return Verdict(True)
    done = evaluated(rollout, wave)
    if done is not None:
        return Verdict(bool(done["passed"]), done.get("reason"))
    if deadline is not None and deadline - time.monotonic() < MIN_SECONDS:
        return Verdict(None)  # too little of the tick's budget left: the next tick evaluates
    canary, baseline = _groups(rollout, wave)
    start = rollout.wave_done_at.replace(second=0, microsecond=0)
    try:
        values = _read(spec, canary + baseline, start, now, period_seconds(store.settings(rollout)))
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        log.warning("analysis of %s wave %s: CloudWatch failed: %s", rollout.project, wave, exc)
        return Verdict(None, f"wave {wave} done: canary analysis could not read CloudWatch "
                             f"({_describe(exc)}); asking again on the next tick")
    entry = _decide(rollout, spec, wave, _mean(values, canary), _mean(values, baseline),
                    len(canary), len(baseline))
    entry["at"] = format_time(now)
    _store(rollout, wave, entry)
    kind = "rollout.analysis_passed" if entry["passed"] else "rollout.analysis_failed"
    store.record(rollout, kind, actor, f"canary analysis of wave {wave} of {rollout.version} "
                 f"{'passed' if entry['passed'] else 'failed'}: {entry['reason']}", **entry)
    return Verdict(entry["passed"], entry["reason"])


def _groups(rollout: Rollout, wave: int) -> tuple[list[str], list[str]]:
    """The canary and baseline hosts (at most ``MAX_SAMPLE`` each, in the plan's hash order)."""
    items = [i for i in hostitems.all_items(rollout.project) if i.rollout_id == rollout.rollout_id]
    canary = [i.host for i in items if int(i.wave) <= wave and i.status in _ON_NEW]
    baseline = [i.host for i in items if int(i.wave) > wave and i.status == HostStatus.WAITING]
    order = lambda host: plan.hash_key(rollout.project, host)  # noqa: E731
    return sorted(canary, key=order)[:MAX_SAMPLE], sorted(baseline, key=order)[:MAX_SAMPLE]


def _read(spec: dict, hosts: list[str], start: datetime.datetime, end: datetime.datetime,
          period: int) -> dict[str, float]:
    """One ``GetMetricData`` call: each host's statistic over ``start``..``end`` (hosts without
    data are absent). Several data points of one host (period boundaries) are combined."""
    if not hosts:
        return {}
    if end <= start:
        end = start + datetime.timedelta(seconds=60)
    queries = [{"Id": f"h{index}", "ReturnData": True, "MetricStat": {
        "Metric": {"Namespace": spec["namespace"], "MetricName": spec["metric"],
                   "Dimensions": [{"Name": spec["dimension"], "Value": host}]},
        "Period": period, "Stat": spec["statistic"]}} for index, host in enumerate(hosts)]
    points: dict[str, list[float]] = {}
    request = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end,
               "MaxDatapoints": 100 * len(queries)}
    for _ in range(10):  # bounded: one period per host fits one page; NextToken is rare
        answer = aws.client("cloudwatch").get_metric_data(**request)
        for result in answer.get("MetricDataResults", []):
            host = hosts[int(result["Id"][1:])]
            points.setdefault(host, []).extend(float(v) for v in result.get("Values", [])
                                               if v is not None)
        if not answer.get("NextToken"):
            break
        request["NextToken"] = answer["NextToken"]
    return {host: _combine(spec["statistic"], values) for host, values in points.items() if values}


def _combine(statistic: str, values: list[float]) -> float:
    """One host's value from its data points: summed for Sum/SampleCount, the extreme for
    Maximum/Minimum and percentiles (the worse), averaged for Average."""
    if statistic in ("Sum", "SampleCount"):
        return sum(values)
    if statistic == "Minimum":
        return min(values)
    if statistic == "Average":
        return sum(values) / len(values)
    return max(values)


def _mean(values: dict[str, float], hosts: list[str]) -> float | None:
    found = [values[h] for h in hosts if h in values]
    return round(sum(found) / len(found), 6) if found else None


def _previous_baseline(rollout: Rollout, wave: int) -> float | None:
    """The baseline measured at the latest earlier evaluation of this rollout, if any."""
    for entry in reversed((rollout.analysis or [])[:wave]):
        if isinstance(entry, dict) and entry.get("baseline_from") == "measured":
            return entry.get("baseline")
    return None


def _decide(rollout: Rollout, spec: dict, wave: int, canary: float | None,
            baseline: float | None, canary_hosts: int, baseline_hosts: int) -> dict:
    """The evaluation: ``{wave, canary, baseline, threshold, passed, reason, ...}``."""
    source = "measured" if baseline is not None else None
    if baseline is None:
        baseline = _previous_baseline(rollout, wave)
        source = "previous" if baseline is not None else None
    what = f"{spec['metric']} {spec['statistic']}"
    entry = {"wave": wave, "metric": spec["metric"], "statistic": spec["statistic"],
             "canary": canary, "baseline": baseline, "baseline_from": source, "threshold": None,
             "canary_hosts": canary_hosts, "baseline_hosts": baseline_hosts}
    if canary is None or baseline is None:
        missing = ("no data for the canary" if canary is None else
                   "no baseline (every host is on the new version)" if not baseline_hosts else
                   "no data for the baseline")
        passed = spec["on_missing"] == "pass"
        return dict(entry, passed=passed, reason=f"{what}: {missing}; on_missing is "
                    f"{spec['on_missing']!r} (canary {_num(canary)}, baseline {_num(baseline)})")
    threshold = round(max(baseline * float(spec["max_ratio"]), float(spec["min_value"])), 6)
    passed = canary <= threshold
    relation = "<=" if passed else ">"
    return dict(entry, threshold=threshold, passed=passed, reason=(
        f"canary {what} {_num(canary)} {relation} threshold {_num(threshold)} = max(baseline "
        f"{_num(baseline)}{' (from an earlier wave)' if source == 'previous' else ''} x max_ratio "
        f"{_num(spec['max_ratio'])}, min_value {_num(spec['min_value'])})"))


def _num(value: Any) -> str:
    return "none" if value is None else f"{float(value):g}"


def _store(rollout: Rollout, wave: int, entry: dict) -> None:
    """``entry`` as the evaluation of ``wave`` (one per wave, at most ``MAX_WAVES``)."""
    entries = list(rollout.analysis or [])[:MAX_WAVES]
    entries += [None] * (wave + 1 - len(entries))
    entries[wave] = entry
    store.set_fields(rollout, analysis=entries[:MAX_WAVES])


def _describe(exc: Exception) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {str(error.get('Message', ''))[:200]}"
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def rows(rollout: Rollout) -> list[dict | None]:
    """Per wave, what the view shows: ``{canary, baseline, threshold, passed, at, reason}``."""
    entries = list(rollout.analysis or [])
    shown = []
    for index in range(len(rollout.waves or [])):
        entry = entries[index] if index < len(entries) else None
        shown.append({k: entry.get(k) for k in ("canary", "baseline", "threshold", "passed", "at",
                                                "baseline_from", "reason")}
                     if isinstance(entry, dict) else None)
    return shown


def watching(rollout: Rollout, now: datetime.datetime) -> dict | None:
    """What the running bake watches and when it is judged: ``{namespace, metric, dimension,
    statistic, max_ratio, min_value, on_missing, evaluates_at, seconds_left}``, or None."""
    spec = configured(store.settings(rollout))
    if spec is None:
        return None
    at = None
    if rollout.state == RolloutState.RUNNING and rollout.wave_done_at is not None \
            and evaluated(rollout, int(rollout.wave)) is None:
        at = rollout.wave_done_at + datetime.timedelta(seconds=bake_seconds(store.settings(rollout)))
    left = max(0, int((at - now).total_seconds())) if at is not None else None
    return dict({k: spec[k] for k in FIELDS}, evaluates_at=format_time(at), seconds_left=left)


def problems(value: Any, path: str = "rollout.analysis") -> dict[str, str]:
    """``{field path: message}`` for every problem of an ``analysis`` value (None: no analysis)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        return {path: "must be an object {namespace, metric, dimension, statistic, max_ratio, "
                      "min_value, on_missing} or null"}
    found = {f"{path}.{key}": "unknown field" for key in value if key not in FIELDS}
    for key in REQUIRED:
        if key not in value:
            found[f"{path}.{key}"] = "is required"
    for key in ("namespace", "metric", "dimension"):
        text = value.get(key)
        if key in value and not (isinstance(text, str) and 0 < len(text) <= MAX_NAME
                                 and text.isprintable()):
            found[f"{path}.{key}"] = f"must be a CloudWatch name (1-{MAX_NAME} printable characters)"
    statistic = value.get("statistic")
    if "statistic" in value and not (isinstance(statistic, str) and (
            statistic in STATISTICS or PERCENTILE_RE.fullmatch(statistic))):
        found[f"{path}.statistic"] = f"must be one of {', '.join(STATISTICS)} or a percentile (p99, p99.9)"
    ratio = value.get("max_ratio")
    if "max_ratio" in value and not (_is_number(ratio) and 1 < ratio <= MAX_RATIO):
        found[f"{path}.max_ratio"] = f"must be a number above 1 and at most {MAX_RATIO:g} (2: twice the baseline)"
    floor = value.get("min_value")
    if "min_value" in value and not (_is_number(floor) and 0 <= floor < 1e15):
        found[f"{path}.min_value"] = "must be a number of at least 0"
    if "on_missing" in value and value["on_missing"] not in ON_MISSING:
        found[f"{path}.on_missing"] = "must be 'fail' (the wave fails without data) or 'pass'"
    return found


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
