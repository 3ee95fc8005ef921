"""One definition of drift (``chalicelib.drift``), and the project view and the daily report
agreeing on it."""
import datetime
import types

import pytest

from chalicelib import drift

T1 = datetime.datetime(2026, 5, 1, 12, 0, tzinfo=datetime.timezone.utc)
T2 = T1 + datetime.timedelta(minutes=5)


def _item(status, target="2.0", running=None, reported_at=None, seen=None, seen_at=None):
    return types.SimpleNamespace(status=status, target_version=target, running_version=running,
                                 reported_at=reported_at, seen_version=seen, seen_at=seen_at)


@pytest.mark.parametrize("item, expected", [
    # in step, by the report or by the agent
    (_item("succeeded", running="2.0", reported_at=T1), None),
    (_item("succeeded", running="2.0", reported_at=T1, seen="2.0", seen_at=T2), None),
    # the report says another version
    (_item("succeeded", running="1.0", reported_at=T1), {"expected": "2.0", "running": "1.0"}),
    # changed by hand after the deploy: the agent's newer word wins
    (_item("succeeded", running="2.0", reported_at=T1, seen="1.0", seen_at=T2),
     {"expected": "2.0", "running": "1.0"}),
    # the agent said 1.0 before the deploy reported 2.0: the report is newer
    (_item("succeeded", running="2.0", reported_at=T2, seen="1.0", seen_at=T1), None),
    # the agent says there is no current release
    (_item("succeeded", running="2.0", reported_at=T1, seen=None, seen_at=T2),
     {"expected": "2.0", "running": None}),
    # nobody said anything: not judged
    (_item("succeeded"), None),
    # the agent alone, on a host with no report yet
    (_item("idle", seen="1.0", seen_at=T1), {"expected": "2.0", "running": "1.0"}),
    (_item("idle", target=None, seen="1.0", seen_at=T1), None),
    (_item("skipped", running="2.0", reported_at=T1), None),
    (_item("skipped", running="2.0", reported_at=T1, seen="2.1", seen_at=T2),
     {"expected": "2.0", "running": "2.1"}),
    (_item("rolled_back", target="1.0", running="1.0", reported_at=T1), None),
    (_item("rolled_back", target="1.0", running="1.0", reported_at=T1, seen="2.0", seen_at=T2),
     {"expected": "1.0", "running": "2.0"}),
    # failed and lost hosts are flagged by their status, never as drift
    (_item("failed", running="1.0", reported_at=T1), None),
    (_item("lost", running="1.0", reported_at=T1, seen="0.5", seen_at=T2), None),
    # moving or gone: not judged
    *[(_item(status, running="1.0", reported_at=T1, seen="0.9", seen_at=T2), None)
      for status in ("waiting", "draining", "pending", "in_progress", "rollback_pending", "left")],
])
def test_drift_table(item, expected):
    assert drift.drift(item) == expected


def test_running_is_the_newest_statement():
    assert drift.running(_item("succeeded", running="2.0", reported_at=T1)) == "2.0"
    assert drift.running(_item("succeeded", running="2.0", reported_at=T1, seen="1.0",
                               seen_at=T2)) == "1.0"
    assert drift.running(_item("succeeded", running="2.0", seen="1.0", seen_at=T1)) == "1.0"
    assert drift.running(_item("succeeded", running="2.0", reported_at=T2, seen="1.0",
                               seen_at=T1)) == "2.0"
    assert drift.running(_item("succeeded")) is None


HOSTS = [f"web-{n}.example.com" for n in range(1, 9)]


def test_the_daily_report_and_the_project_view_agree_on_drift(api):
    from chalicelib.times import utcnow
    from tests.conftest import base_project
    from tests.support.hosts import stored_item
    assert api.post("/api/v1/project", base_project(hosts=HOSTS)).status == 201
    now = utcnow()
    before, after = now - datetime.timedelta(minutes=10), now - datetime.timedelta(minutes=1)
    seeds = [  # status, target, running (report), agent's word (None: said nothing)
        ("succeeded", "1.0.0", "1.0.0", None),          # in step
        ("succeeded", "1.0.0", "1.0.0", ("0.9",)),      # changed by hand
        ("succeeded", "1.0.0", "0.8", None),            # the report says otherwise
        ("failed", "1.0.0", "0.9", None),               # failed: not drift
        ("in_progress", "1.0.0", "0.9", None),          # moving: not drift
        ("skipped", "1.0.0", "1.0.0", (None,)),         # no current release at all
        ("left", "1.0.0", "0.1", None),                 # left the fleet
        ("idle", "1.0.0", "1.0.0", ("1.0.0",)),         # the agent agrees
    ]
    for host, (status, target, running, said) in zip(HOSTS, seeds):
        extra = {"seen_version": said[0], "seen_at": after} if said else {}
        stored_item(host, "web", status, target_version=target, running_version=running,
                    reported_at=before, last_seen=now, **extra)
    rows = api.get("/api/v1/project/web").json["hosts_view"]["hosts"]
    in_view = {r["host"]: {"expected": r["expected"], "running": r["running"]}
               for r in rows if r["drift"]}
    report = api.post("/api/v1/reports", {})
    assert report.status == 200, report.json
    web = next(p for p in report.json["projects"] if p["project"] == "web")
    in_report = {d["host"]: {"expected": d["expected"], "running": d["running"]}
                 for d in web["drift"]}
    assert in_view == in_report == {
        HOSTS[1]: {"expected": "1.0.0", "running": "0.9"},
        HOSTS[2]: {"expected": "1.0.0", "running": "0.8"},
        HOSTS[5]: {"expected": "1.0.0", "running": None}}
    assert web["drift_count"] == 3 == api.get("/api/v1/project/web").json["hosts_view"]["drift"]
