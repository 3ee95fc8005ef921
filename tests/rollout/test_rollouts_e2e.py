"""End to end: five sandbox hosts run the real agent through two waves, then a rollback.

The API is ``chalice local`` over HTTP (the ``live`` fixture), the hosts run
``agent/fabu-agent.sh`` as cron would, and ``live.tick()`` runs the scheduled tick. The check
of version 2.0.0 fails on one canary, which halts the rollout; the engine sends the other
canary back to 1.0.0 while the hosts of the second wave never see 2.0.0.
"""
import pytest

from tests.support.sandbox import SandboxHost, project_body, project_view, stored_release

HOSTS = [f"e2e-{i}.example.com" for i in range(5)]
FAIL_MARKER = "fail-check"
# cwd is the release dir, $FABU_ROOT/<project>/releases/<version>: the marker sits in FABU_ROOT.
CHECK = f'test ! -e "$FABU_RELEASE_DIR/../../../{FAIL_MARKER}" || {{ echo "check failed" >&2; exit 4; }}'


@pytest.fixture
def fleet(live, tmp_path):
    return [SandboxHost(tmp_path / name, live, name) for name in HOSTS]


def _run_all(fleet):
    for host in fleet:
        host.run_agent()


def _state(live):
    return project_view(live, "shop")["rollout"]


def test_two_waves_then_a_failed_canary_rolls_back(live, fleet):
    stored_release("shop", "1.0.0")
    body = project_body("shop", "1.0.0", HOSTS, scripts={"test": CHECK},
                        rollout={"waves": [2, "100%"], "canary_hosts": HOSTS[:2]})
    assert live.request("POST", "/api/v1/project", body).status_code == 201
    live.tick()
    _run_all(fleet)
    assert [h.current_version("shop") for h in fleet] == ["1.0.0"] * 2 + [None] * 3
    live.tick()                                     # wave 0 done: wave 1 released
    _run_all(fleet)
    live.tick()
    assert [h.current_version("shop") for h in fleet] == ["1.0.0"] * 5
    assert _state(live)["state"] == "succeeded"

    (fleet[1].root / FAIL_MARKER).write_text("")
    stored_release("shop", "2.0.0")
    assert live.request("PUT", "/api/v1/project/shop", {"version": "2.0.0"}).status_code == 200
    live.tick()
    _run_all(fleet)                                 # canary 0 succeeds, canary 1 fails its check
    assert [h.current_version("shop") for h in fleet] == ["2.0.0"] + ["1.0.0"] * 4
    live.tick()
    assert (_state(live)["state"], _state(live)["rollback_to"]) == ("rolling_back", "1.0.0")
    _run_all(fleet)                                 # canary 0 is sent back, at once
    live.tick()
    rollout = _state(live)
    assert rollout["state"] == "rolled_back"
    assert [h.current_version("shop") for h in fleet] == ["1.0.0"] * 5
    assert not any((h.root / "shop" / "releases" / "2.0.0").exists() for h in fleet[2:])
