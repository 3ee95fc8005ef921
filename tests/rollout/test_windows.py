"""Deploy windows (``rollout.windows``): waves start only inside them, DST-correct, by time travel.

The engine is driven with ``rollout.tick.run(now=...)`` at chosen instants around Europe/Berlin's
DST changes of 2027 (Sunday 28 March 02:00 CET → 03:00 CEST; Sunday 31 October 03:00 CEST →
02:00 CET); the simulated fleet deploys. The rules themselves (gap and repeated hour, windows
past midnight) are checked on ``chalicelib.rollout.windows`` directly: it is pure.
"""
import datetime

from chalicelib.rollout import tick as rollout_tick
from chalicelib.rollout import windows
from tests.support.fleet import FLEET_HOSTS, create, events_of, ready_release, rollout_of

HOSTS = FLEET_HOSTS[:4]
UTC = datetime.timezone.utc


def at(text):
    return datetime.datetime.fromisoformat(text).replace(tzinfo=UTC)


def tick_at(text):
    return rollout_tick.run(now=at(text))["rollouts"].get("web")


def berlin(days, start, end):
    return [{"days": days, "start": start, "end": end, "timezone": "Europe/Berlin"}]


def test_the_first_wave_waits_for_its_window_across_the_spring_change(api, fleet):
    # the release is not ready at create, so nothing starts at the real time of the test
    create(api, HOSTS, ready=False, rollout={"windows": berlin(["sat", "sun"], "09:00", "17:00")})
    ready_release("web", "1.0.0")
    assert tick_at("2027-03-27T07:30:00") == "waiting_release"     # Sat 08:30 CET
    reason = rollout_of(api)["reason"]
    assert reason == ("outside its deploy windows; the next opens at 2027-03-27T08:00:00Z "
                      "(Sat 2027-03-27 09:00 Europe/Berlin)")
    assert fleet.round(HOSTS) == []
    assert tick_at("2027-03-27T16:30:00") == "waiting_release"     # Sat 17:30 CET: closed again
    assert rollout_of(api)["reason"].startswith(
        "outside its deploy windows; the next opens at 2027-03-28T07:00:00Z "
        "(Sun 2027-03-28 09:00 Europe/Berlin)")                    # CEST now: 07:00 UTC, not 08:00
    waits = [e["message"] for e in events_of("web", "rollout.waiting") if "2027-03-2" in e["message"]]
    assert len(waits) == 2                                          # each reason told once
    assert tick_at("2027-03-28T06:59:00") == "waiting_release"
    assert tick_at("2027-03-28T07:00:00") == "running"
    assert len(fleet.round(HOSTS)) == len(HOSTS)


def test_a_later_wave_waits_for_the_window_across_the_autumn_change_and_running_hosts_go_on(api, fleet):
    create(api, HOSTS, ready=False, rollout={
        "waves": [2, "100%"], "canary_hosts": HOSTS[:2], "max_parallel": 1,
        "windows": berlin(["sat", "sun"], "09:00", "10:00")})
    ready_release("web", "1.0.0")
    assert tick_at("2027-10-30T07:00:00") == "running"            # Sat 09:00 CEST: open
    assert len(fleet.round(HOSTS)) == 1                            # max_parallel 1
    # the window has closed, but the running wave's second host is still released
    assert tick_at("2027-10-30T08:10:00") == "running"
    assert len(fleet.round(HOSTS)) == 1
    assert tick_at("2027-10-30T08:20:00") == "running"
    summary = rollout_of(api)
    assert summary["wave"] == 0 and summary["reason"] == (
        "outside its deploy windows; the next opens at 2027-10-31T08:00:00Z "
        "(Sun 2027-10-31 09:00 Europe/Berlin)")                    # CET after the change
    assert summary["window"]["open"] is False
    assert tick_at("2027-10-31T07:30:00") == "running"            # 08:30 CET: still closed
    assert rollout_of(api)["wave"] == 0 and fleet.round(HOSTS) == []
    assert tick_at("2027-10-31T08:00:00") == "running"
    assert rollout_of(api)["wave"] == 1
    assert len(fleet.round(HOSTS)) == 1


def test_a_promote_is_the_operators_override(api, fleet):
    create(api, HOSTS, ready=False, rollout={"windows": berlin(["sun"], "09:00", "10:00")})
    ready_release("web", "1.0.0")
    assert tick_at("2027-03-24T12:00:00") == "waiting_release"
    response = api.post("/api/v1/project/web/promote")
    assert response.status == 200, response
    assert response.json["state"] == "running"
    assert len(fleet.round(HOSTS)) == len(HOSTS)


def test_gap_and_repeated_hour_are_defined():
    spring = berlin(["sun"], "02:30", "04:00")    # 02:30 does not exist on 28 March 2027
    assert windows.next_open(spring, at("2027-03-27T12:00:00")) == at("2027-03-28T01:30:00")  # 03:30 CEST
    assert not windows.is_open(spring, at("2027-03-28T01:29:00"))
    assert windows.is_open(spring, at("2027-03-28T01:30:00"))
    autumn = berlin(["sun"], "02:30", "04:00")    # 02:30 happens twice on 31 October 2027
    assert windows.next_open(autumn, at("2027-10-30T12:00:00")) == at("2027-10-31T00:30:00")  # the first
    assert windows.is_open(autumn, at("2027-10-31T02:59:00"))   # 03:59 CET
    assert not windows.is_open(autumn, at("2027-10-31T03:00:00"))


def test_a_window_past_midnight_belongs_to_the_day_it_opens():
    night = [{"days": ["fri"], "start": "22:00", "end": "02:00", "timezone": "UTC"}]
    assert windows.is_open(night, at("2027-01-08T23:00:00"))      # Friday night
    assert windows.is_open(night, at("2027-01-09T01:59:00"))      # Saturday small hours
    assert not windows.is_open(night, at("2027-01-09T02:00:00"))
    assert not windows.is_open(night, at("2027-01-08T01:00:00"))  # Friday small hours: Thursday's
    assert windows.next_open(night, at("2027-01-09T03:00:00")) == at("2027-01-15T22:00:00")
    assert windows.next_open([], at("2027-01-09T03:00:00")) is None


def test_bad_windows_are_refused_naming_the_field(api):
    body = {"name": "web", "version": "1.0.0", "hosts": HOSTS, "rollout": {"windows": [
        {"days": ["mon"], "start": "09:00", "end": "17:00", "timezone": "Europe/Berlim"},
        {"days": [], "start": "9:00", "end": "25:00", "timezone": "UTC"},
        {"days": ["mon", "mon"], "start": "10:00", "end": "10:00", "timezone": "UTC"},
        {"days": ["funday"], "start": "10:00", "end": "11:00"}]}}
    response = api.post("/api/v1/project", body)
    assert response.status == 400
    fields = response.json["fields"]
    assert fields["rollout.windows[0].timezone"].startswith("is not an IANA time zone")
    for path in ("rollout.windows[1].days", "rollout.windows[1].start", "rollout.windows[1].end",
                 "rollout.windows[2].days", "rollout.windows[2].end",
                 "rollout.windows[3].days", "rollout.windows[3].timezone"):
        assert path in fields, path
    too_many = dict(body, rollout={"windows": berlin(["mon"], "09:00", "10:00") * 21})
    assert api.post("/api/v1/project", too_many).json["fields"] == {
        "rollout.windows": "at most 20 windows"}
