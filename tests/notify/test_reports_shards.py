"""The daily report reads every shard of the events' ``day-index`` and the legacy unsharded day.

Events are recorded with ``events.record`` (as the app records them: ``day = <date>#<NN>``) and,
for the events written before the index was sharded, stored at the storage boundary with the
plain ``<date>`` they had then.
"""
import datetime

UTC = datetime.timezone.utc
DAY = datetime.date(2026, 3, 10)
MIDNIGHT = datetime.datetime(2026, 3, 10, tzinfo=UTC)


def _legacy_event(project, kind, detail, moment):
    """An event as ``events.record`` stored it before the shards: ``day`` the plain date."""
    from chalicelib.models import Event
    Event(project, f"{moment.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}#legacy00", day=DAY.isoformat(),
          kind=kind, actor="fabu:tick", detail=detail, at=moment).save()


def test_a_day_spread_over_the_shards_and_the_legacy_date_is_fully_reported(aws):
    from chalicelib import events
    from chalicelib.models import Event
    from chalicelib.notify import reports
    for n in range(12):   # 12 rollouts of 12 projects: their 24 events land on many shards
        start = MIDNIGHT + datetime.timedelta(minutes=10 + n)
        detail = {"rollout_id": f"r{n:02d}", "version": "1.0"}
        events.record(f"p{n:02d}", "rollout.started", "fabu:tick", detail, at=start)
        events.record(f"p{n:02d}", "rollout.succeeded", "fabu:tick", detail,
                      at=start + datetime.timedelta(seconds=60 + n))
    legacy = {"rollout_id": "old", "version": "0.9"}
    _legacy_event("old", "rollout.started", legacy, MIDNIGHT + datetime.timedelta(hours=1))
    _legacy_event("old", "rollout.rolled_back", legacy, MIDNIGHT + datetime.timedelta(hours=2))
    events.record("p00", "rollout.succeeded", "fabu:tick", {"rollout_id": "next-day"},
                  at=MIDNIGHT + datetime.timedelta(days=1, seconds=1))   # the next day: not counted

    shards = {e.day for e in Event.scan() if e.scope != "old"}
    assert all(d.startswith(("2026-03-10#", "2026-03-11#")) for d in shards)
    assert len({d for d in shards if d.startswith("2026-03-10#")}) >= 6   # spread, not one key

    report = reports.build(DAY, MIDNIGHT + datetime.timedelta(days=1, hours=8))
    assert report["date"] == "2026-03-10"
    assert (report["totals"]["projects"], report["totals"]["deploys"],
            report["totals"]["succeeded"]) == (13, 13, 12)
    old = next(p for p in report["projects"] if p["project"] == "old")
    assert [(r["rollout_id"], r["outcome"], r["duration_seconds"]) for r in old["rollouts"]] == [
        ("old", "rolled_back", 3600.0)]
    p11 = next(p for p in report["projects"] if p["project"] == "p11")
    assert [r["duration_seconds"] for r in p11["rollouts"]] == [71.0]


def test_an_event_shows_no_shard_and_keeps_its_shard_when_written_again(aws):
    from chalicelib import events
    from chalicelib.models import Event
    moment = datetime.datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    shown = events.record("web", "test.step", "tester", at=moment)
    stored = Event.get("web", shown["id"])
    assert stored.day == events.day_key("web", shown["id"], moment)
    assert stored.day.startswith("2026-11-01#") and 0 <= int(stored.day[-2:]) < events.DAY_SHARDS
    assert events.day_of(stored.day) == "2026-11-01" == events.day_of("2026-11-01")
    assert "day" not in shown and shown["at"].startswith("2026-11-01T12:00:00")
    assert events.day_values(datetime.date(2026, 11, 1))[-1] == "2026-11-01"
    assert len(set(events.day_values(datetime.date(2026, 11, 1)))) == events.DAY_SHARDS + 1
