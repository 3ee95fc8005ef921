"""The per-host beat (chalicelib/hosts/beat.py): what a poll writes, and silence read from it.

Polls are made through ``hosts.poll.poll`` with ``now=`` (simulated hours in milliseconds) or
through the signed API; silence is read through the project view, the hosts route, the daily
report and the engine's lost-host rule. DynamoDB requests are counted with botocore's
``before-parameter-build`` hook on the models' clients.
"""
import datetime

import pytest

from tests.conftest import base_project
from tests.support.calls import dynamodb_calls
from tests.support.fleet import Fleet, create, events_of, hosts_named, later, rollout_of, tick
from tests.support.hosts import HOST, released_item, stored_beat, stored_item

UTC = datetime.timezone.utc
T0 = datetime.datetime(2026, 1, 1, tzinfo=UTC)
MINUTES = datetime.timedelta(minutes=1)


@pytest.fixture
def fleet(signed_client):
    return Fleet(signed_client, hosts_named("beat", 2))


def _counting():
    """Every DynamoDB request of the hosts-table models (and events) as (operation, key)."""
    from chalicelib.hosts.beat import Beat
    from chalicelib.models import Event, HostState
    return dynamodb_calls((HostState, Beat, Event), lambda operation, params: (
        operation, params.get("Key", {}).get("project", {}).get("S")))


def _partition(host):
    """Every item of ``host``'s partition, raw (what a reader that forgot the beat would get)."""
    from tests.conftest import boto_client
    from chalicelib import config
    return boto_client("dynamodb").query(
        TableName=config.table_name("hosts"), KeyConditionExpression="host = :h",
        ExpressionAttributeValues={":h": {"S": host}}, ConsistentRead=True)["Items"]


def test_a_host_in_ten_projects_writes_at_most_two_beats_in_two_hours(aws):
    from chalicelib.hosts import poll
    for n in range(10):
        stored_item(HOST, f"p{n}", "succeeded", target_version="1.0", running_version="1.0",
                    last_seen=T0 - datetime.timedelta(days=3))
    with _counting() as calls:
        for n in range(24):
            assert poll.poll(HOST, now=T0 + 5 * n * MINUTES) is None
    writes = [c for c in calls if c[0] != "Query"]
    assert [c[0] for c in calls].count("Query") == 24
    assert writes == [("UpdateItem", "#beat"), ("UpdateItem", "#beat")]   # at 0 and 60 min
    from chalicelib.hosts.beat import Beat
    assert Beat.get(HOST, "#beat").last_seen == T0 + 60 * MINUTES


def test_racing_polls_write_the_beat_once_and_first_contact_once(aws):
    from chalicelib.hosts import poll
    from chalicelib.models import HostState
    stored_item(HOST, "web", "succeeded")
    with _counting() as calls:
        poll.poll(HOST, now=T0)
        # a second poll that read the partition before the first one wrote: both conditions fail
        from chalicelib.hosts import beat
        assert beat.beat(HOST, None, T0 + MINUTES, active=False) is False
        poll.poll(HOST, now=T0 + 5 * MINUTES)
    assert sorted(c for c in calls if c[0] == "UpdateItem") == [
        ("UpdateItem", "#beat"), ("UpdateItem", "#beat"), ("UpdateItem", "web")]
    assert HostState.get(HOST, "web").last_seen == T0


def test_two_projects_on_one_host_share_one_beat(api, host_client):
    api.post("/api/v1/project", base_project(name="web", hosts=[HOST]))
    api.post("/api/v1/project", base_project(name="api", hosts=[HOST]))
    stored_item(HOST, "web", "succeeded")
    stored_item(HOST, "api", "succeeded")
    assert host_client.get(f"/api/v1/{HOST}").status == 204
    keys = sorted(i["project"]["S"] for i in _partition(HOST))
    assert keys == ["#beat", "api", "web"]
    from chalicelib.hosts import beat
    [raw] = [i for i in _partition(HOST) if i["project"]["S"] == "#beat"]
    assert "wave_key" not in raw and set(raw) == {"host", "project", "last_seen", "beat_due",
                                                  "expires_at"}   # in no index: one write unit


def test_a_host_in_an_active_rollout_beats_every_15_minutes(aws):
    from chalicelib.hosts import poll
    from chalicelib.hosts.beat import Beat
    stored_item(HOST, "web", "waiting", last_seen=T0)
    for n in range(7):                      # 30 minutes of 5-minute polls
        poll.poll(HOST, now=T0 + 5 * n * MINUTES)
    beat = Beat.get(HOST, "#beat")
    assert beat.last_seen == T0 + 30 * MINUTES and beat.beat_due == T0 + 45 * MINUTES


def _view_row(api, project="web"):
    body = api.get(f"/api/v1/project/{project}").json
    [row] = [r for r in body["hosts_view"]["hosts"] if r["host"] == HOST]
    return row, body["hosts_view"]["silent"]


def _poll_until(last, every=5 * MINUTES, span=55 * MINUTES):
    """The host polled every 5 minutes for ``span`` up to ``last`` (simulated)."""
    from chalicelib.hosts import poll
    t = last - span
    while t <= last:
        poll.poll(HOST, now=t)
        t += every


def test_silence_shows_between_s_and_s_plus_h_after_the_last_poll_and_clears_on_a_poll(
        api, host_client):
    from chalicelib.times import format_time, utcnow
    api.post("/api/v1/project", base_project(hosts=[HOST]))
    stored_item(HOST, "web", "succeeded", last_seen=utcnow() - datetime.timedelta(days=2))
    silent_for = datetime.timedelta(seconds=1800)          # FABU_SILENT_SECONDS' default
    # polled until just under S ago; its beat was written 55 minutes before that (due later)
    _poll_until(utcnow() - silent_for + MINUTES)
    row, count = _view_row(api)
    assert (row["silent"], count) == (False, 0)
    # its last poll S + H (+ 1 minute) ago, with the beat written then: silent, and the row
    # says when it last polled (its beat)
    last = (utcnow() - silent_for - 61 * MINUTES).replace(microsecond=0)
    stored_beat(HOST, last)
    row, count = _view_row(api)
    assert (row["silent"], count) == (True, 1)
    assert row["last_seen"] == format_time(last)
    hosts_route = api.get("/api/v1/project/web/hosts").json["hosts"]
    assert [r["silent"] for r in hosts_route if r["host"] == HOST] == [True]
    # one poll through the API and the host is back
    assert host_client.get(f"/api/v1/{HOST}").status == 204
    row, count = _view_row(api)
    assert (row["silent"], count) == (False, 0)


def test_the_daily_report_lists_hosts_silent_by_their_beat(aws):
    from chalicelib.notify import reports
    from chalicelib.times import utcnow
    now = utcnow()
    old = now - datetime.timedelta(days=2)
    for host in ("a.example.com", "b.example.com", "c.example.com"):
        stored_item(host, "web", "succeeded", last_seen=old)
    stored_beat("a.example.com", now - 10 * MINUTES)              # polls
    stored_beat("b.example.com", now - 3 * 60 * MINUTES)          # silent for 2 hours
    stored_beat("c.example.com", now - 3 * 60 * MINUTES)
    stored_item("c.example.com", "web", "succeeded", last_seen=now - 5 * MINUTES)  # it reported
    from chalicelib import events
    events.record("web", "rollout.started", "fabu:tick", {"rollout_id": "r"}, at=now)
    [web] = reports.build(now.date(), now)["projects"]
    assert [s["host"] for s in web["silent"]] == ["b.example.com"] and web["silent_count"] == 1


def test_a_pending_item_of_a_silent_host_still_becomes_lost(api, fleet):
    from chalicelib.hosts import poll
    hosts = fleet.hosts[:2]
    create(api, hosts, rollout={"waves": ["100%"], "deploy_timeout": 600})
    tick()
    # hosts[1] polled three hours ago (its beat and item say so), never since
    poll.poll(hosts[1], now=later(-3 * 3600))
    fleet.round(hosts[:1])
    tick(601)
    rollout = rollout_of(api)
    assert rollout["lost"] == [hosts[1]]
    [lost] = events_of("web", "host.lost")
    assert "host silent" in lost["message"]


def test_a_polling_host_is_never_lost_before_its_next_poll(api, fleet):
    """A short deploy_timeout: the released item is not touched yet, but the beat is fresh."""
    from chalicelib.hosts import poll
    from chalicelib.models import HostState
    host = fleet.hosts[0]
    create(api, [host], rollout={"waves": ["100%"], "deploy_timeout": 60})
    poll.poll(host, now=later(-2 * 3600))       # first contact, long ago
    poll.poll(host, now=later(-4 * 60))         # polled 4 minutes ago (item at rest: untouched)
    tick()                                      # released now
    assert HostState.get(host, "web").status == "pending"
    tick(61)
    assert HostState.get(host, "web").status == "pending" and not events_of("web", "host.lost")
    assert len(fleet.round([host])) == 1        # its next poll takes it


def test_the_deploy_route_and_partition_readers_ignore_the_beat(api, host_client):
    from chalicelib.hosts import beat
    from chalicelib.models import HostState
    from tests.support.fleet import ready_release
    api.post("/api/v1/project", base_project(hosts=[HOST]))
    ready_release("web", "1.0.0")
    released_item(HOST, "web", "1.0.0")
    assert host_client.get(f"/api/v1/{HOST}").status == 200     # writes the beat
    assert "#beat" in {i["project"]["S"] for i in _partition(HOST)}
    script = host_client.get(f"/api/v1/{HOST}/deploy")
    assert script.status == 200 and "#beat" not in script.body.decode()
    assert [i.project for i in beat.items_of(HOST)] == ["web"]
    assert HostState.get(HOST, "web").status == "in_progress"
    assert [i.host for i in HostState.project_index.query("#beat")] == []      # sparse
    view = api.get("/api/v1/project/web").json["hosts_view"]
    assert [r["host"] for r in view["hosts"]] == [HOST] and view["total"] == 1
    refused = host_client.post(f"/api/v1/{HOST}/report", {
        "project": "#beat", "version": "1.0.0", "deploy_id": "d-1", "phase": "pre-deploy",
        "status": "ok", "exit_code": 0, "output": ""})
    assert refused.status == 400 and "project" in refused.json["fields"]


def test_snapshot_and_restore_keep_the_beat(aws, tmp_path):
    from chalicelib.hosts import beat, poll
    from chalicelib.times import utcnow
    from infra import snapshot, stack
    from infra.saver import NOT_SAVED
    from infra.snapshot_io import Clients
    from tests.conftest import _wipe
    stored_item(HOST, "web", "succeeded")
    seen = utcnow() - datetime.timedelta(hours=3)
    poll.poll(HOST, now=seen)
    stage = snapshot.stage_of(aws["resources"], stack.load_template(), skip=NOT_SAVED)
    clients = Clients.from_session(stack.emulator_session())
    snapshot.save(tmp_path, stage, clients)
    _wipe(aws["resources"])
    assert _partition(HOST) == []
    snapshot.restore(tmp_path, stage, clients)
    restored = beat.Beat.get(HOST, "#beat")
    assert restored.last_seen == seen
    from chalicelib.models import HostState
    item = HostState.get(HOST, "web")
    assert beat.silence(utcnow()).is_silent(item)          # and it still tells the silence


def test_silence_reads_beats_in_batches_up_to_its_limit_and_says_so(aws):
    from chalicelib.hosts import beat
    from chalicelib.times import utcnow
    now = utcnow()
    names = [f"s{i:03d}.example.com" for i in range(150)]
    for i, host in enumerate(names):
        stored_beat(host, now - datetime.timedelta(days=2) + i * MINUTES)
        stored_item(host, "web", "succeeded")
    stored_beat("gone.example.com", now - beat.KEEP - datetime.timedelta(days=1))   # expired
    stored_item("gone.example.com", "web", "succeeded")
    stored_beat("alive.example.com", now - 10 * MINUTES)
    stored_item("alive.example.com", "web", "succeeded")
    from chalicelib.models import HostState
    items = [HostState.get(h, "web") for h in names + ["gone.example.com", "alive.example.com"]]
    with dynamodb_calls([beat.Beat]) as calls:
        everything = beat.silence(now)
        everything.know(items)
        assert calls.count("BatchGetItem") == 2                # 152 hosts: batches of 100
        assert {i.host for i in items if everything.is_silent(i)} == set(names)
        assert not everything.truncated and calls.count("BatchGetItem") == 2   # not read again
        bounded = beat.silence(now, limit=100)
        bounded.know(items)
    # the first 100 hosts by name are read (alive, gone, s000..s097): 98 silent, the rest unread
    assert bounded.truncated and sum(bounded.is_silent(i) for i in items) == 98
