"""The real agent (``agent/fabu-agent.sh``) telling the real API what each project runs, and
waiting while its host drains: sandbox hosts against ``chalice local`` over HTTP.

The host items are what a finished deploy (or part D's drain) leaves in storage, and the host's
disk is the layout the deploy script leaves (``releases/<version>/.fabu-version``, ``current``),
so each test is one or two agent runs and a look at what a user sees: the project view, the
events, the agent's output.
"""
import datetime

import pytest

from tests.support.hosts import stored_item
from tests.support.sandbox import SandboxHost, events_of, host_row, project_body

#: A version with an epoch and a '+': both must be percent-encoded in the signed query string.
ODD = "1:0.9+hotfix"


@pytest.fixture
def host(live, tmp_path):
    return SandboxHost(tmp_path / "h", live, "drift-1.example.com")


def _release(host, project, version):
    """A release on the host's disk as the deploy script leaves it."""
    path = host.root / project / "releases" / version
    path.mkdir(parents=True)
    (path / ".fabu-version").write_text(f"{version}\n")


def _switch(host, project, version):
    """``ln -sfn releases/<version> current``, by hand."""
    link = host.root / project / "current"
    link.unlink(missing_ok=True)
    link.symlink_to(f"releases/{version}")


def test_a_release_switched_by_hand_shows_as_drift_with_both_versions(live, host):
    response = live.request("POST", "/api/v1/project", project_body("shop", "2.0.0", [host.host]))
    assert response.status_code == 201, response.text
    earlier = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=10)
    stored_item(host.host, "shop", "succeeded", target_version="2.0.0", running_version="2.0.0",
                reported_at=earlier, last_seen=earlier)
    for version in ("2.0.0", ODD):
        _release(host, "shop", version)
    _switch(host, "shop", "2.0.0")

    result = host.run_agent()
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    row = host_row(live, "shop", host.host)
    assert (row["drift"], row["running"]) == (False, "2.0.0")

    _switch(host, "shop", ODD)  # someone on the host went back by hand
    result = host.run_agent()
    assert (result.returncode, result.stderr) == (0, "")
    row = host_row(live, "shop", host.host)
    assert (row["drift"], row["expected"], row["running"]) == (True, "2.0.0", ODD)
    assert row["status"] == "succeeded" and row["seen_at"] is not None
    assert events_of(live, "shop").count("host.drifted") == 1
    host.run_agent()  # said again: nothing new
    assert events_of(live, "shop").count("host.drifted") == 1

    (host.root / "shop" / "current").unlink()  # and then removed the release altogether
    host.run_agent()
    row = host_row(live, "shop", host.host)
    assert (row["drift"], row["expected"], row["running"]) == (True, "2.0.0", None)


def test_a_draining_host_says_so_and_fetches_no_script(live, host):
    response = live.request("POST", "/api/v1/project", project_body("shop", "2.0.0", [host.host]))
    assert response.status_code == 201, response.text
    until = "2026-05-01T12:05:00Z"
    stored_item(host.host, "shop", "draining", target_version="2.0.0", deploy_id="d-drain",
                rollout_id="r-1", drain={"state": "draining", "until": until})
    result = host.run_agent()
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"fabu-agent: shop 2.0.0: draining until {until}, the deploy follows\n"
    assert not (host.root / "shop").exists()  # nothing was deployed
    assert host_row(live, "shop", host.host)["status"] == "draining"
