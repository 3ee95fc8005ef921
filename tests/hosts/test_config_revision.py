"""A config-only change rolls out as a new revision of the same version, through the waves.

Simulated hosts speak the host protocol over the API (``tests.support.fleet``): each fetches the
deploy script it is handed (here also read for its config) and reports the phases. The engine's
side: the revision's waves, its events, and a failed revision halting instead of "rolling back"
to its own version.
"""
import re

from tests.support.fleet import Fleet, create, events_of, put, rollout_of, tick

HOSTS = ["web-1.example.com", "web-2.example.com", "web-3.example.com"]
ROLLOUT = {"waves": [1, "100%"], "bake_seconds": 0, "max_failures": 0}


def _until_done(fleet, api, rounds=6):
    for _ in range(rounds):
        tick()
        fleet.round()
        tick()
        if rollout_of(api)["state"] not in ("running", "waiting_release", "scheduled"):
            break
    return rollout_of(api)


def _script_of(fleet, host):
    """The text of the last deploy script ``host`` fetched."""
    return fleet.scripts.get(host, "")


class RecordingFleet(Fleet):
    """A ``Fleet`` that keeps the text of the last script each host fetched."""

    def __init__(self, *args):
        super().__init__(*args)
        self.scripts = {}
        for host, client in self.clients.items():
            self.clients[host] = _Recorder(client, self.scripts, host)


class _Recorder:
    def __init__(self, client, scripts, host):
        self.client, self.scripts, self.host = client, scripts, host

    def get(self, path, **kw):
        response = self.client.get(path, **kw)
        if path.endswith("/deploy"):
            body = response.body
            self.scripts[self.host] = body.decode() if isinstance(body, bytes) else body
        return response

    def post(self, path, body=None, **kw):
        return self.client.post(path, body, **kw)


def test_a_config_revision_goes_through_the_waves_and_a_failed_one_halts(api, signed_client):
    fleet = RecordingFleet(signed_client, HOSTS)
    create(api, HOSTS, rollout=ROLLOUT, config={"MODE": "a"})
    assert _until_done(fleet, api)["state"] == "succeeded"
    assert fleet.at("1.0.0") == sorted(HOSTS)
    first_handed = len(fleet.handed)

    put(api, config={"MODE": "b"})
    tick()
    fleet.round()
    canary = [h for h, *_ in fleet.handed[first_handed:]]
    assert len(canary) == 1  # wave 0 alone: the other hosts wait for wave 1
    text = _script_of(fleet, canary[0])
    assert "P_VERSION=1.0.0" in text and "P_CONFIG_REVISION=1" in text and "[MODE]=b" in text
    rollout = _until_done(fleet, api)
    assert (rollout["version"], rollout["revision"], rollout["state"]) == ("1.0.0", 1, "succeeded")
    assert sorted(h for h, *_ in fleet.handed[first_handed:]) == sorted(HOSTS)
    started = [e["message"] for e in events_of("web", "rollout.started")]
    assert started[0].startswith("rollout of config revision 1 of 1.0.0 started: 3 hosts in 2 waves")

    # a revision whose canary fails: halted with the reason, no host sent "back" to 1.0.0
    fleet.fail[canary[0]] = "post-deploy"
    put(api, config={"MODE": "broken"})
    rollout = _until_done(fleet, api)
    assert rollout["state"] == "halted" and rollout["revision"] == 2
    assert "a config revision is not rolled back: fix the config" in rollout["reason"]
    assert not [h for h in fleet.handed if h[3] == "rollback"]
    # fixing the config is the next revision, and it reaches every host
    del fleet.fail[canary[0]]
    put(api, config={"MODE": "fixed"})
    rollout = _until_done(fleet, api)
    assert (rollout["revision"], rollout["state"]) == (3, "succeeded")
    assert all(re.search(r"\[MODE\]=fixed", fleet.scripts[h]) for h in HOSTS)
