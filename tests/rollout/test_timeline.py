"""The rollout view's timeline: when each wave started and finished, and when a bake ends.

Read through ``GET /api/v1/project/<id>`` (``rollout.waves[i].started_at|finished_at``,
``rollout.bake_until``) while the simulated fleet deploys and the tick runs at chosen times.
"""
import datetime

from tests.support.fleet import Fleet, create, hosts_named, put, rollout_of


def _at(moment):
    from chalicelib.rollout import tick
    return tick.run(now=moment)


def _times(view):
    return [(w["started_at"], w["finished_at"]) for w in view["waves"]]


def test_each_wave_shows_its_start_and_finish_and_a_bake_its_end(api, signed_client):
    from chalicelib.times import format_time as fmt, utcnow
    hosts = hosts_named("web", 3)
    fleet = Fleet(signed_client, hosts)
    create(api, hosts, rollout={"waves": [1, "100%"], "canary_hosts": hosts[:1],
                                "bake_seconds": 600})
    assert rollout_of(api)["waves"] == []                # planned when it starts
    start = utcnow()
    _at(start)
    view = rollout_of(api)
    assert _times(view) == [(fmt(start), None), (None, None)]
    assert view["bake_until"] is None and view["wave_started_at"] == fmt(start)  # kept fields

    fleet.round(hosts)
    done = start + datetime.timedelta(seconds=60)
    _at(done)
    view = rollout_of(api)
    assert _times(view) == [(fmt(start), fmt(done)), (None, None)]
    assert view["bake_until"] == fmt(done + datetime.timedelta(seconds=600))
    assert view["wave_done_at"] == fmt(done)

    second = start + datetime.timedelta(seconds=700)
    _at(second)                                     # the bake is over: wave 1 starts
    view = rollout_of(api)
    assert _times(view) == [(fmt(start), fmt(done)), (fmt(second), None)]
    assert view["bake_until"] is None
    fleet.round(hosts)
    end = start + datetime.timedelta(seconds=760)
    _at(end)
    view = rollout_of(api)
    assert view["state"] == "succeeded"
    assert _times(view) == [(fmt(start), fmt(done)), (fmt(second), fmt(end))]

    # A host joining the finished rollout reopens its last wave until it has deployed too.
    put(api, hosts=hosts + ["web-new.example.com"])
    assert _times(rollout_of(api))[1] == (fmt(second), None)
    late = Fleet(signed_client, ["web-new.example.com"])
    _at(end + datetime.timedelta(seconds=60))
    late.round()
    final = end + datetime.timedelta(seconds=120)
    _at(final)
    assert _times(rollout_of(api))[1] == (fmt(second), fmt(final))


def test_a_full_promote_starts_every_remaining_wave_at_once(api, signed_client):
    from chalicelib.times import format_time as fmt, utcnow
    hosts = hosts_named("web", 6)
    create(api, hosts, rollout={"waves": [1, 3, "100%"], "auto_promote": False})
    start = utcnow()
    _at(start)
    promoted = api.post("/api/v1/project/web/promote?full=true")
    assert promoted.status == 200
    starts = [w["started_at"] for w in promoted.json["waves"]]
    assert starts[0] == fmt(start) and starts[1] is not None and starts[1] == starts[2]
    assert [w["finished_at"] for w in promoted.json["waves"]] == [None, None, None]
