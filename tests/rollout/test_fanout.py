"""The tick fans out: one drive message per active rollout, each driven in its own invocation.

Projects are created through the API, the tick runs as the ``tick`` Lambda does
(``tick.run(queue=<the drive queue>)``; ``now`` moves time), its messages are read back from the
suite's SQS and handed to the real ``rollout_driver`` Lambda entry
(``chalice.test.Client(app).lambda_.invoke``), or the whole round runs through the local ticker
(``infra.ticker``: the schedule, then the queue, drivers side by side). Faults are injected at
the AWS boundary only (a botocore hook on the tick's SQS client).
"""
import datetime
import json
import logging
import threading
import time

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROOT, boto_client
from tests.rollout.test_alarms import alarm, counted_calls
from tests.support.fleet import (Fleet, SilentGate, create, events_of, hosts_named, later,
                                 rollout_of, tick)


@pytest.fixture
def queue(aws):
    from chalicelib import config
    return {"name": config.drive_queue_name(), "url": aws["resources"]["DriveQueue"]}


@pytest.fixture
def lambdas(aws):
    from chalice.test import Client
    from app import app
    with Client(app, stage_name="local", project_dir=ROOT) as client:
        yield client


def fan_out(queue, seconds=0):
    """The ``tick`` Lambda's run at ``seconds`` from now; its outcome and the messages it sent
    (received once and deleted, as the event source does), in the order they were sent."""
    from chalicelib.rollout import tick
    outcome = tick.run(now=later(seconds), queue=queue["name"])
    return outcome, _take(queue)


def _take(queue):
    sqs, bodies = boto_client("sqs"), []
    while True:
        got = sqs.receive_message(QueueUrl=queue["url"], MaxNumberOfMessages=10,
                                  VisibilityTimeout=30).get("Messages", [])
        if not got:
            return bodies
        bodies.extend(m["Body"] for m in got)
        sqs.delete_message_batch(QueueUrl=queue["url"], Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])


def drive(lambdas, body):
    """One invocation of the ``rollout_driver`` Lambda with one SQS record: its answer."""
    from chalicelib import config
    event = lambdas.events.generate_sqs_event(message_bodies=[body],
                                              queue_name=config.drive_queue_name())
    [answer] = lambdas.lambda_.invoke("rollout_driver", event).payload
    return answer


def _rollout(project):
    from chalicelib.rollout import store
    return store.newest(project, consistent=True)


def test_the_tick_sends_one_message_per_active_rollout_and_drives_none_itself(api, queue):
    from chalicelib.models import Rollout
    names = ["alpha", "bravo", "charlie", "delta"]
    for name in names:
        create(api, hosts_named(name, 2), name=name, rollout={"waves": [1, "100%"]})
    bravo = _rollout("bravo")                  # driven a minute ago: it goes last
    bravo.update(actions=[Rollout.driven_at.set(later(-60))])
    before = {name: (_rollout(name).seq, _rollout(name).driven_at) for name in names}

    outcome, bodies = fan_out(queue)
    assert outcome["queued"] == 4 and outcome["rollouts"] == dict.fromkeys(names, "queued")
    assert not outcome["errors"] and not outcome["skipped"]
    sent = [json.loads(body) for body in bodies]
    assert sorted(m["project"] for m in sent) == names          # exactly one each
    assert sent[-1]["project"] == "bravo"                       # least recently driven last
    assert {m["rollout_id"] for m in sent} == {_rollout(n).rollout_id for n in names}
    assert all(m["frozen"] is None and len(body) < 2000 for m, body in zip(sent, bodies))
    assert {name: (_rollout(name).seq, _rollout(name).driven_at) for name in names} == before


def test_the_driver_lambda_drives_its_rollout_one_step(api, signed_client, queue, lambdas):
    hosts = hosts_named("web", 3)
    fleet = Fleet(signed_client, hosts)
    create(api, hosts, rollout={"waves": [1, "100%"], "canary_hosts": hosts[:1]})
    create(api, hosts_named("other", 1), name="other")
    tick()                                      # both start (in-process)
    fleet.round(hosts)                          # the canary deploys: wave 0 is done
    _, bodies = fan_out(queue, 60)
    [body] = [b for b in bodies if json.loads(b)["project"] == "web"]
    assert rollout_of(api)["wave"] == 0         # the tick itself drove nothing

    answer = drive(lambdas, body)
    assert answer["outcome"] == "running" and answer["project"] == "web"
    assert rollout_of(api)["wave"] == 1         # this message's rollout advanced...
    assert [e["detail"]["wave"] for e in events_of("web", "rollout.wave_started")] == [1, 0]
    assert _rollout("other").driven_at < _rollout("web").driven_at   # ...and no other
    assert sorted(h for h, _ in fleet.round(hosts)) == hosts[1:]


def test_a_rollout_whose_step_hangs_does_not_delay_another_rollouts_driver(
        api, signed_client, monkeypatch):
    """Through the local ticker: the tick schedule, then the drive queue's messages side by side."""
    from tests.conftest import _ticker
    monkeypatch.setenv("FABU_GATE_TIMEOUT_SECONDS", "2")
    calm = hosts_named("calm", 2)
    fleet = Fleet(signed_client, calm)
    with SilentGate() as gate:
        create(api, calm, name="calm", rollout={"waves": [1, "100%"], "canary_hosts": calm[:1]})
        tick()                                  # calm starts
        fleet.round(calm)                       # calm's canary is done: its next step opens wave 1
        create(api, hosts_named("slow", 1), name="slow", gates={"before_wave": {
            "url": gate.url("slow"), "secret": "gate-secret", "timeout_seconds": 30}})
        rounds = []
        runner = threading.Thread(target=lambda: rounds.append(_ticker().run_once()))
        began = time.monotonic()
        runner.start()
        # slow was never driven, calm was: slow's message is sent first, so a serial driver
        # would make calm wait for slow's gate (2 s without an answer)
        while int(_rollout("calm").wave) != 1:
            assert runner.is_alive(), "the round ended before calm advanced"
            time.sleep(0.05)
        assert gate.paths() == ["/slow"] and _rollout("slow").lock_owner   # still in its gate
        assert runner.is_alive()
        runner.join(30)
    assert time.monotonic() - began >= 2         # the round itself waited for the slow gate
    assert rounds[0]["rollout_driver"] == {"handled": 2, "failed": 0}
    assert rollout_of(api, "slow")["reason"].startswith("waiting for approval gate")
    assert [w["counts"].get("pending") for w in rollout_of(api, "calm")["waves"]][1] == 1


def test_an_expired_message_is_dropped(api, queue, lambdas, caplog):
    create(api, hosts_named("web", 1))
    _, [body] = fan_out(queue)
    old = json.loads(body)                      # the same message, sent by a tick a minute ago
    for field in ("now", "sent", "expires"):
        old[field] = (datetime.datetime.fromisoformat(old[field])
                      - datetime.timedelta(seconds=60)).isoformat()
    before = _rollout("web")
    logger = logging.getLogger("fabu.tick")    # "fabu" is Chalice's app logger: not propagated
    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.WARNING, logger="fabu.tick"):
            assert drive(lambdas, json.dumps(old))["outcome"] == "expired"
    finally:
        logger.removeHandler(caplog.handler)
    after = _rollout("web")
    assert (after.seq, after.driven_at) == (before.seq, before.driven_at) and after.driven_at is None
    assert "drive message of web dropped: expired 10." in caplog.text
    assert drive(lambdas, body)["outcome"] == "running"   # the fresh one drives


def test_a_duplicate_message_does_not_drive_twice(api, queue, lambdas):
    import app
    create(api, hosts_named("web", 1))
    create(api, hosts_named("twin", 1), name="twin")
    _, bodies = fan_out(queue)
    by_project = {json.loads(b)["project"]: b for b in bodies}

    assert drive(lambdas, by_project["web"])["outcome"] == "running"
    driven = _rollout("web")
    assert drive(lambdas, by_project["web"])["outcome"] == "duplicate"   # delivered again later
    again = _rollout("web")
    assert (again.seq, again.driven_at) == (driven.seq, driven.driven_at)

    event = lambdas.events.generate_sqs_event(message_bodies=[by_project["twin"]])
    answers, start = [], threading.Barrier(2)

    def deliver():                              # two deliveries at the same moment
        start.wait()
        answers.extend(app.rollout_driver(event, None))
    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    # the loser finds the lock taken ("busy"), the step done ("duplicate"), or — when both
    # lock writes land at once on the emulator, whose conditional writes are not atomic across
    # its threads (DynamoDB's are) — its next write refused ("raced"): never a second step
    winner, loser = sorted((a["outcome"] for a in answers), key=lambda o: o != "running")
    assert winner == "running" and loser in ("busy", "duplicate", "raced"), answers
    assert len(events_of("twin", "rollout.started")) == 1
    assert len(events_of("twin", "rollout.wave_started")) == 1


def test_an_sqs_failure_falls_back_to_driving_in_process(api, signed_client, queue):
    from chalicelib.rollout import tick as rollout_tick
    hosts = hosts_named("web", 2)
    fleet = Fleet(signed_client, hosts)
    create(api, hosts, rollout={"waves": [1, "100%"], "canary_hosts": hosts[:1]})
    create(api, hosts_named("other", 1), name="other")
    tick()
    fleet.round(hosts)
    refused = []

    def refuse(**_):
        refused.append("SendMessageBatch")
        raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "try later"}},
                          "SendMessageBatch")
    events = rollout_tick._sqs().meta.events
    events.register("before-call.sqs.SendMessageBatch", refuse)
    try:
        outcome, bodies = fan_out(queue, 60)
    finally:
        events.unregister("before-call.sqs.SendMessageBatch", refuse)
    assert refused == ["SendMessageBatch"] and bodies == []     # one try, then in-process
    assert outcome["queued"] == 0
    assert outcome["rollouts"] == {"web": "running", "other": "running"}
    assert list(outcome["errors"]) == ["drive queue"]
    assert outcome["errors"]["drive queue"].startswith("ServiceUnavailable: try later")
    assert rollout_of(api)["wave"] == 1                         # driven by the tick itself


def test_refused_entries_are_driven_in_process_and_their_message_is_then_a_duplicate(
        api, queue, lambdas):
    """SQS answers a batch with one entry ``Failed`` although it was stored (an after-call hook
    rewrites the answer): the tick drives that rollout itself, its late message does nothing."""
    from chalicelib.rollout import tick
    for name in ("alpha", "bravo"):
        create(api, hosts_named(name, 1), name=name)

    def fail_first(parsed, **_):
        first = parsed["Successful"].pop(0)
        parsed.setdefault("Failed", []).append({"Id": first["Id"], "Code": "InternalError",
                                                "SenderFault": False, "Message": "retry"})
    events = tick._sqs().meta.events
    events.register("after-call.sqs.SendMessageBatch", fail_first)
    try:
        outcome, bodies = fan_out(queue)
    finally:
        events.unregister("after-call.sqs.SendMessageBatch", fail_first)
    assert outcome["queued"] == 1
    [local] = [p for p, state in outcome["rollouts"].items() if state != "queued"]
    assert outcome["rollouts"][local] == "running"
    assert "SQS refused the drive message of" in outcome["errors"]["drive queue"]
    answers = {json.loads(b)["project"]: drive(lambdas, b)["outcome"] for b in bodies}
    assert answers[local] == "duplicate" and set(answers.values()) == {"duplicate", "running"}


def test_alarm_states_in_the_message_halt_with_no_describe_alarms_in_the_driver(
        api, signed_client, queue, lambdas):
    errors = alarm()
    hosts = hosts_named("shop", 2)
    fleet = Fleet(signed_client, hosts)
    create(api, hosts, name="shop", rollout={"alarms": [errors], "waves": [1, "100%"],
                                             "canary_hosts": hosts[:1], "bake_seconds": 600})
    create(api, hosts_named("calm", 1), name="calm")
    tick()
    fleet.round(hosts)
    boto_client("cloudwatch").set_alarm_state(AlarmName=errors, StateValue="ALARM",
                                              StateReason="5xx above 2%")
    with counted_calls() as calls:
        outcome, bodies = fan_out(queue, 30)
        assert outcome["alarms"] == {"names": 1, "calls": 1, "unread": 0}
        messages = {json.loads(b)["project"]: b for b in bodies}
        assert json.loads(messages["shop"])["alarms"]["found"] == [[errors, "ALARM", "5xx above 2%"]]
        assert json.loads(messages["calm"])["alarms"] == {"found": [], "unread": {}}
        read_by_tick = len(calls)
        answers = {name: drive(lambdas, body)["outcome"] for name, body in messages.items()}
    assert read_by_tick == 1 and len(calls) == 1                # none in the drivers
    assert answers == {"shop": "halted", "calm": "running"}
    view = rollout_of(api, "shop")
    assert view["reason"] == (f"alarm {errors} is in ALARM: 5xx above 2%; no previous good "
                              "version to roll back to")
    assert len(events_of("shop", "rollout.alarm")) == 1


def test_a_freeze_read_by_the_tick_holds_the_driven_start(api, queue, lambdas):
    create(api, hosts_named("web", 1), deploy_at="2099-01-01T00:00:00Z")
    assert api.post("/api/v1/freeze", {"reason": "black friday"}).status in (200, 201)
    due = datetime.datetime(2099, 1, 1, 0, 1, tzinfo=datetime.timezone.utc)
    outcome, [body] = fan_out(queue, (due - later(0)).total_seconds())
    assert outcome["frozen"] == "black friday"
    assert json.loads(body)["frozen"]["reason"] == "black friday"
    assert drive(lambdas, body)["outcome"] == "waiting_release"   # the start is due, but frozen
    assert rollout_of(api)["reason"].startswith("frozen: black friday (by arn:aws:iam::")
