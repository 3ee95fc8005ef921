"""Fault isolation of the tick: one rollout's failure or slowness never holds up the others.

Through the API and the simulated fleet (``tests/support/fleet.py``), with ``tick.run(now=...)``
moving time: a rollout whose step raises (an item corrupted in storage) is told once and the
others advance in the same tick; a before-wave gate that accepts connections and never answers
costs its own rollout a second, and is never asked inside an API request; rollouts left out for
time go first on the next tick; a driver SIGKILLed mid-step (the tick and driver Lambdas in a
subprocess) loses nothing; DynamoDB throttling on the tick's writes (a botocore ``before-call``
hook on the clients, the AWS boundary) leaves nothing half-done and the next tick completes the
step exactly once.
"""
import contextlib
import json
import os
import subprocess
import sys
import time

from botocore.exceptions import ClientError

from tests.conftest import ROOT, base_project
from tests.support.fleet import (Fleet, SilentGate, create, events_of, hosts_named, ready_release,
                                 rollout_of, tick)

SECRET = "gate-secret"
NEXT_TICK = "waiting for the before_wave gate, asked on the next tick"
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})


def _gate(url, timeout=30, deadline=None):
    hook = {"url": url, "secret": SECRET, "timeout_seconds": timeout}
    if deadline:
        hook["deadline_seconds"] = deadline
    return {"before_wave": hook}


def _newest(project):
    from chalicelib.rollout import store
    return store.newest(project, consistent=True)


def _rewrite_settings(project, **settings):
    """Storage-level corruption (or its repair) of the project's rollout settings."""
    from chalicelib.models import Rollout
    rollout = _newest(project)
    rollout.update(actions=[Rollout.settings.set(dict(rollout.settings, **settings))])


def _items(project):
    from chalicelib.models import HostState
    return sorted(((i.host, i.status, i.deploy_id) for i in HostState.project_index.query(project)))


def _waves_started(project):
    return sorted(e["detail"]["wave"] for e in events_of(project, "rollout.wave_started"))


def test_a_rollout_whose_step_raises_is_told_once_and_the_others_advance(api, signed_client):
    names = ("alpha", "bravo", "charlie")
    hosts = {name: hosts_named(name, 2) for name in names}
    fleet = Fleet(signed_client, [h for name in names for h in hosts[name]])
    for name in names:
        create(api, hosts[name], name=name, rollout={"waves": [1, "100%"]})
    assert tick()["rollouts"] == dict.fromkeys(names, "running")
    fleet.round()                                   # every canary deploys: each wave 0 is done
    _rewrite_settings("bravo", deploy_timeout="30 minutes")   # no step can read it any more

    outcome = tick(60)
    assert outcome["rollouts"] == {"alpha": "running", "bravo": "error", "charlie": "running"}
    assert "ValueError: invalid literal for int()" in outcome["errors"]["bravo"]
    assert [rollout_of(api, name)["wave"] for name in names] == [1, 0, 1]   # the others advanced
    [told] = events_of("bravo", "rollout.error")
    assert told["message"].startswith("the tick failed driving wave 0 for the rollout of 1.0.0: "
                                      "ValueError: invalid literal for int()")
    assert "(at chalicelib/rollout/store.py:" in told["message"]
    assert rollout_of(api, "bravo")["error"] == told["detail"]["error"]

    fleet.round()
    assert tick(120)["rollouts"] == {"alpha": "succeeded", "bravo": "error", "charlie": "succeeded"}
    assert len(events_of("bravo", "rollout.error")) == 1    # the same error is told once

    _rewrite_settings("bravo", deploy_timeout=1800)         # repaired
    assert tick(180)["rollouts"] == {"bravo": "running"}
    view = rollout_of(api, "bravo")
    assert view["wave"] == 1 and view["error"] is None
    [recovered] = events_of("bravo", "rollout.recovered")
    assert "again (last error: ValueError" in recovered["message"]
    fleet.round()
    assert tick(240)["rollouts"] == {"bravo": "succeeded"}
    assert len(fleet.at("1.0.0", "bravo")) == 2 and _waves_started("bravo") == [0, 1]


def test_a_gate_secret_that_cannot_sign_is_a_rollout_error_not_a_stalled_tick(api):
    """The issue's case: a lone surrogate (stored before validation refused it) makes signing
    raise on every tick; the other project starts anyway and the error is told once."""
    from chalicelib.models import Project
    create(api, hosts_named("calm", 1), name="calm")
    create(api, hosts_named("odd", 1), name="odd", gates=_gate("http://127.0.0.1:9/odd"))
    stored = Project.get("odd")
    stored.spec = dict(stored.spec, gates=_gate("http://127.0.0.1:9/odd"))
    stored.spec["gates"]["before_wave"]["secret"] = "\ud800"          # corrupted in storage
    stored.save()
    first = tick()
    assert first["rollouts"] == {"calm": "running", "odd": "error"}
    assert "UnicodeEncodeError" in first["errors"]["odd"]
    assert tick(60)["rollouts"]["odd"] == "error"
    assert len(events_of("odd", "rollout.error")) == 1
    view = rollout_of(api, "odd")
    assert view["state"] == "waiting_release" and "UnicodeEncodeError" in view["error"]


def test_a_gate_that_never_answers_holds_only_its_own_rollout(api, signed_client, monkeypatch):
    monkeypatch.setenv("FABU_GATE_TIMEOUT_SECONDS", "1")   # the stage caps the hook's 30 s
    monkeypatch.setenv("FABU_TICK_BUDGET_SECONDS", "10")
    others = {name: hosts_named(name, 2) for name in ("alpha", "charlie")}
    slow = hosts_named("slow", 2)
    fleet = Fleet(signed_client, [h for members in others.values() for h in members] + slow)
    with SilentGate() as gate:
        for name, members in others.items():
            create(api, members, name=name)
        ready_release("slow", "1.0.0")
        began = time.monotonic()
        response = api.post("/api/v1/project", base_project(
            name="slow", hosts=slow, gates=_gate(gate.url("slow"), timeout=30, deadline=600)))
        assert response.status == 201 and time.monotonic() - began < 10
        assert gate.paths() == []                  # never asked inside an API request
        assert rollout_of(api, "slow")["reason"] == NEXT_TICK

        began = time.monotonic()
        outcome = tick()
        assert time.monotonic() - began < 10       # within the tick's budget
        assert outcome["rollouts"] == {"alpha": "running", "charlie": "running",
                                       "slow": "waiting_release"}
        assert gate.paths() == ["/slow"]
        [waiting] = events_of("slow", "gate.waiting")
        assert waiting["detail"]["answer"] == "no answer within 1 s"
        assert "waiting for approval gate http://127.0.0.1" in rollout_of(api, "slow")["reason"]

        fleet.round()
        assert tick(60)["rollouts"] == {"alpha": "succeeded", "charlie": "succeeded",
                                        "slow": "waiting_release"}
        assert len(gate.paths()) == 2 and len(events_of("slow", "gate.waiting")) == 1
        paused = tick(601)["rollouts"]["slow"]     # the gate's deadline (600 s) has passed
        assert paused == "paused"
        reason = rollout_of(api, "slow")["reason"]
        assert "did not approve wave 0 by" in reason and "(last answer: no answer within 1 s)" in reason
        assert _items("slow") == []                # no host was ever handed the version

        gate.approve()
        assert api.post("/api/v1/project/slow/resume").status == 200
        assert len(gate.paths()) == 3              # the resume asked nothing either
        assert tick(660)["rollouts"]["slow"] == "running"
        fleet.round(slow)
        assert tick(720)["rollouts"]["slow"] == "succeeded"
    assert [status for _, status, _ in _items("slow")] == ["succeeded", "succeeded"]
    assert len(events_of("slow", "gate.approved")) == 1


def test_a_promote_leaves_the_first_wave_gate_to_the_tick(api):
    with SilentGate() as gate:
        create(api, hosts_named("web", 2), deploy_at=(time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))), gates=_gate(gate.url("web")))
        began = time.monotonic()
        response = api.post("/api/v1/project/web/promote")
        assert response.status == 200 and time.monotonic() - began < 10
        assert response.json["state"] == "waiting_release" and response.json["reason"] == NEXT_TICK
        assert gate.paths() == []
        gate.approve()
        assert tick()["rollouts"]["web"] == "running"
        assert gate.paths() == ["/web"]


def test_rollouts_left_out_for_time_go_first_on_the_next_tick(api, monkeypatch):
    monkeypatch.setenv("FABU_GATE_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("FABU_TICK_WORKERS", "1")
    monkeypatch.setenv("FABU_TICK_BUDGET_SECONDS", "3")
    names = ["g1", "g2", "g3", "g4"]
    with SilentGate() as gate:
        for name in names:
            create(api, hosts_named(name, 1), name=name, gates=_gate(gate.url(name)))
        left_out = []
        for seconds in (0, 60, 120, 180):
            outcome = tick(seconds)
            driven = list(outcome["rollouts"])     # in the order the tick took them
            assert driven and outcome["skipped"], outcome   # four 1 s gates never fit in 3 s
            assert sorted(driven + outcome["skipped"]) == names
            if left_out:
                assert driven[0] == left_out[0]    # left out last time: first this time
            left_out = outcome["skipped"]
        assert set(gate.paths()) == {f"/{name}" for name in names}   # each asked in turn


KILLED_TICK = (  # the tick Lambda, then one rollout_driver invocation per drive message
    "import threading, boto3\n"
    "import app\n"
    "from chalicelib import config\n"
    "app.tick({'version': '0', 'id': 'killed', 'detail-type': 'Scheduled Event',"
    " 'source': 'aws.events', 'account': '000000000000', 'time': '2026-11-05T09:00:00Z',"
    " 'region': 'us-east-1', 'resources': [], 'detail': {}}, None)\n"
    "sqs = boto3.client('sqs')\n"
    "url = sqs.get_queue_url(QueueName=config.drive_queue_name())['QueueUrl']\n"
    "got = []\n"
    "while len(got) < 2:\n"
    "    got += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,"
    " VisibilityTimeout=120).get('Messages', [])\n"
    "records = [{'Records': [{'body': m['Body'], 'receiptHandle': m['ReceiptHandle'],"
    " 'messageId': m['MessageId'], 'attributes': {}}]} for m in got]\n"
    "for record in records:\n"
    "    threading.Thread(target=app.rollout_driver, args=(record, None)).start()\n")


def _until(condition, seconds=90):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)


def test_a_tick_killed_mid_step_leaves_no_host_stuck_and_nothing_lost(api, signed_client,
                                                                     monkeypatch):
    monkeypatch.setenv("FABU_GATE_TIMEOUT_SECONDS", "1")
    calm, gated = hosts_named("calm", 3), hosts_named("gated", 2)
    fleet = Fleet(signed_client, calm + gated)
    with SilentGate() as gate:
        create(api, calm, name="calm", rollout={"waves": [1, "100%"]})
        create(api, gated, name="gated", gates=_gate(gate.url("gated")))
        assert tick()["rollouts"] == {"calm": "running", "gated": "waiting_release"}
        fleet.round(calm)                           # calm's canary deploys: wave 0 done
        # The tick and driver Lambdas in their own process, with a gate budget long enough to
        # be caught in it.
        env = dict(os.environ, FABU_GATE_TIMEOUT_SECONDS="20")
        proc = subprocess.Popen([sys.executable, "-c", KILLED_TICK], cwd=ROOT, env=env)
        try:
            _until(lambda: len(gate.paths()) == 2 and int(_newest("calm").wave) == 1
                   and _newest("calm").lock_owner is None)
            assert _newest("gated").lock_owner     # mid-step: it holds the gated rollout's lock
        finally:
            proc.kill()                            # SIGKILL: no finally, no lock release
            proc.wait()
        assert proc.returncode == -9

        assert tick()["rollouts"]["gated"] == "busy"    # the dead driver's lock holds a while...
        gate.approve()
        assert tick(60)["rollouts"] == {"calm": "running", "gated": "running"}  # ...then expires
        for seconds in (120, 180):
            fleet.round()
            tick(seconds)
    assert rollout_of(api, "calm")["state"] == rollout_of(api, "gated")["state"] == "succeeded"
    for project, members in (("calm", calm), ("gated", gated)):
        assert [status for _, status, _ in _items(project)] == ["succeeded"] * len(members)
        assert len(fleet.at("1.0.0", project)) == len(members)
        assert len(events_of(project, "rollout.succeeded")) == 1
    assert _waves_started("calm") == [0, 1] and _waves_started("gated") == [0]
    assert len(events_of("calm", "rollout.wave_done")) == 2
    assert len(events_of("gated", "gate.approved")) == 1
    assert not events_of("calm", "rollout.error") and not events_of("gated", "rollout.error")


@contextlib.contextmanager
def _throttled(tables=None):
    """Every DynamoDB write (to ``tables`` suffixes, or all) fails as throttled, before it is
    sent: a ``before-call`` hook on the clients of PynamoDB's models and ``chalicelib.aws``."""
    from chalicelib import aws
    from chalicelib.models import ALL_MODELS
    refused = []

    def refuse(model, params, **_):
        body = json.loads(params.get("body") or b"{}")   # the serialised request
        table = body.get("TableName") or ",".join(body.get("RequestItems") or [])
        if model.name in WRITES and (tables is None or table.endswith(tables)):
            refused.append((model.name, table))
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException",
                                         "Message": "Rate of requests exceeds the allowed throughput."}},
                              model.name)
    clients = [m._get_connection().connection.client for m in ALL_MODELS] + [aws.client("dynamodb")]
    for client in clients:
        client.meta.events.register("before-call.dynamodb", refuse)
    try:
        yield refused
    finally:
        for client in clients:
            client.meta.events.unregister("before-call.dynamodb", refuse)


def _snapshot(project):
    from chalicelib import events
    rollout = _newest(project)
    return (rollout.seq, rollout.state, int(rollout.wave), rollout.lock_owner, rollout.error,
            _items(project), [e["id"] for e in events.page(project, limit=1000)[0]])


def test_throttled_writes_leave_nothing_half_done_and_the_step_completes_once(api, signed_client):
    hosts = hosts_named("web", 4)
    fleet = Fleet(signed_client, hosts)
    create(api, hosts, rollout={"waves": [1, "100%"], "canary_hosts": hosts[:1]})
    tick()
    fleet.round(hosts)                              # the canary deploys: wave 0 is done
    before = _snapshot("web")
    with _throttled() as refused:
        outcome = tick(60)                          # returns: no exception out of the tick
    assert outcome["rollouts"] == {"web": "error"}
    assert "ProvisionedThroughputExceededException" in outcome["errors"]["web"]
    assert refused                                  # it did try to write
    assert _snapshot("web") == before               # and wrote nothing

    assert tick(120)["rollouts"] == {"web": "running"}
    released = [(h, s) for h, s, _ in _items("web") if h != hosts[0]]
    assert [s for _, s in released] == ["pending"] * 3
    deploys = _items("web")
    assert tick(180)["rollouts"] == {"web": "running"}
    assert _items("web") == deploys                 # exactly once: nothing handed out again
    assert _waves_started("web") == [0, 1]
    assert len(events_of("web", "rollout.wave_done")) == 1
    fleet.round(hosts)
    assert tick(240)["rollouts"] == {"web": "succeeded"}
    assert len(fleet.handed) == 4


def test_a_step_cut_short_by_throttled_host_writes_is_finished_by_the_next_tick(api, signed_client):
    hosts = hosts_named("web", 4)
    fleet = Fleet(signed_client, hosts)
    create(api, hosts, rollout={"waves": [1, "100%"], "canary_hosts": hosts[:1]})
    tick()
    fleet.round(hosts)
    with _throttled(tables="-hosts") as refused:
        outcome = tick(60)   # wave 1 is opened, then handing out its hosts is throttled
    assert outcome["rollouts"] == {"web": "error"} and refused
    view = rollout_of(api)
    assert view["wave"] == 1 and "ProvisionedThroughputExceededException" in view["error"]
    assert [s for h, s, _ in _items("web") if h != hosts[0]] == ["waiting"] * 3
    [told] = events_of("web", "rollout.error")
    assert "the tick failed driving wave 1" in told["message"]

    assert tick(120)["rollouts"] == {"web": "running"}
    assert [s for h, s, _ in _items("web") if h != hosts[0]] == ["pending"] * 3
    assert rollout_of(api)["error"] is None and len(events_of("web", "rollout.recovered")) == 1
    assert _waves_started("web") == [0, 1]          # the step is completed, not repeated
    fleet.round(hosts)
    assert tick(180)["rollouts"] == {"web": "succeeded"}
    assert len(fleet.handed) == 4


def test_a_scheduled_update_that_raises_is_told_once_and_the_others_apply(api):
    from chalicelib.models import Project
    for name in ("alpha", "bravo", "charlie"):
        create(api, hosts_named(name, 1), name=name)
        response = api.put(f"/api/v1/project/{name}",
                           {"version": "2.0.0", "apply_at": "2099-01-01T00:00:00Z"})
        assert response.status == 200, response
        ready_release(name, "2.0.0")
    broken = Project.get("bravo")
    broken.pending = dict(broken.pending, changes=["version", "2.0.0"])  # corrupted in storage
    broken.save()
    import datetime
    due = datetime.datetime(2099, 1, 1, 0, 1, tzinfo=datetime.timezone.utc)
    from chalicelib.rollout import tick as rollout_tick
    outcome = rollout_tick.run(now=due)
    assert outcome["applied_updates"] == ["alpha", "charlie"]
    assert rollout_of(api, "alpha")["version"] == rollout_of(api, "charlie")["version"] == "2.0.0"
    rollout_tick.run(now=due + datetime.timedelta(minutes=1))
    [told] = events_of("bravo", "project.update_failed")
    assert told["message"].startswith("scheduled update could not be applied; the tick tries "
                                      "again: AttributeError")
    assert Project.get("bravo").spec["version"] == "1.0.0"          # and it is not half-applied
