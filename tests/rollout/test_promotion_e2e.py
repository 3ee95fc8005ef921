"""End to end: staging builds 2.1.0 from git and rolls it out; prod takes the SAME artifact.

The API is ``chalice local`` over HTTP (``live``), the build worker and the tick run through
``live.tick()``, and one sandbox host per project runs the real agent. ``prod`` promotes from
``staging`` automatically (soak 0): once staging's rollout of 2.1.0 succeeded, the tick sets
prod's version to 2.1.0 with staging's release (no second build), replacing prod's first
rollout that waited for an artifact it would never get, and prod's host installs it.
"""
from tests.support.builds import make_git_repo
from tests.support.sandbox import (SandboxHost, events_of, project_body, project_view,
                                   stored_reports)

STAGING_HOST, PROD_HOST = "stg-1.example.com", "prd-1.example.com"


def _installed(host, project, version):
    """``{relative path: bytes}`` the host unpacked for ``version`` (the start script's own
    ``started.txt`` left out: it names the project)."""
    root = host.root / project / "releases" / version
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "started.txt"}


def _verified(live, project, host):
    """The sha256 the host's deploy script verified, from the reports it sent."""
    row = next(r for r in project_view(live, project)["hosts_view"]["hosts"] if r["host"] == host)
    outputs = "\n".join(r.output or "" for r in stored_reports(row["deploy_id"]).values())
    lines = [line for line in outputs.splitlines() if "sha256 verified: " in line]
    assert lines, outputs
    return lines[-1].split("sha256 verified: ", 1)[1].strip()


def test_staging_build_is_promoted_to_prod_and_both_hosts_install_the_same_bytes(live, tmp_path):
    repo = make_git_repo(tmp_path)
    staging_host = SandboxHost(tmp_path / "stg", live, STAGING_HOST)
    prod_host = SandboxHost(tmp_path / "prd", live, PROD_HOST)
    staging = project_body("staging", "2.1.0", [STAGING_HOST],
                           source={"type": "git", "url": f"file://{repo}", "ref": "v2"})
    assert live.request("POST", "/api/v1/project", staging).status_code == 201
    prod = project_body("prod", "2.0.0", [PROD_HOST],
                        promote_from={"project": "staging", "soak_seconds": 0, "auto": True})
    assert live.request("POST", "/api/v1/project", prod).status_code == 201

    live.tick()                                    # the build worker builds staging 2.1.0
    live.tick()                                    # staging's rollout starts
    assert staging_host.run_agent().returncode == 0
    live.tick()                                    # staging's rollout succeeds
    assert project_view(live, "staging")["rollout"]["state"] == "succeeded"
    live.tick()                                    # the tick promotes 2.1.0 into prod
    shown = project_view(live, "prod")
    assert shown["version"] == "2.1.0" and shown["rollout"]["state"] == "running"
    assert prod_host.run_agent().returncode == 0
    live.tick()

    shown = project_view(live, "prod")
    assert shown["rollout"]["state"] == "succeeded"
    assert prod_host.current_version("prod") == staging_host.current_version("staging") == "2.1.0"
    built = project_view(live, "staging")["release"]
    assert shown["release"]["sha256"] == built["sha256"]
    assert shown["release"]["s3_key"] == built["s3_key"]
    assert shown["release"]["promoted_from"]["project"] == "staging"
    assert _verified(live, "staging", STAGING_HOST) == _verified(live, "prod", PROD_HOST) \
        == built["sha256"]
    files = _installed(staging_host, "staging", "2.1.0")
    assert files["app.txt"] == b"two\n"
    assert _installed(prod_host, "prod", "2.1.0") == files   # REVISION included, when built
    assert events_of(live, "staging").count("build.queued") == 1
    assert "build.queued" not in events_of(live, "prod")    # one build for both
    assert events_of(live, "prod").count("release.promoted") == 1
    chain = shown["promotion"]
    assert chain["from"]["version"] == "2.1.0" and chain["from"]["state"] == "succeeded"
    assert (chain["candidate"], chain["blocked"]) == (None, None)
