"""The network rule at fetch time: every source kind, every redirect hop, credentials per origin.

The forbidden target is the suite's own emulator (``AWS_ENDPOINT_URL``, moto on loopback): it
holds the stage's secrets, so no source may reach it, even in stage ``local`` where loopback is
otherwise allowed. Outside ``local`` (``FABU_STAGE=dev``) loopback needs ``FABU_ALLOWED_NETWORKS``.
"""
import json
import os
import shutil
import urllib.parse

import pytest

from chalicelib.build import sources
from tests.support.builds import (archive_site, ftp_server, git_http_server, http_server,
                                  tls_cert, tree_listing)

EMULATOR = os.environ["AWS_ENDPOINT_URL"]
EMULATOR_PORT = urllib.parse.urlsplit(EMULATOR).port


def _refused(source, dest, match, **kwargs):
    with pytest.raises(sources.SourceError, match=match) as err:
        sources.fetch(source, dest, **kwargs)
    assert not err.value.retryable
    assert tree_listing(dest) == {}, "nothing was fetched"
    assert not list(dest.parent.glob("fabu-*")), "no download was started"
    return str(err.value)


@pytest.mark.parametrize("kind, scheme", [("http", "http"), ("git", "http"), ("ftp", "ftp"),
                                          ("svn", "svn")])
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_no_source_kind_reaches_the_stages_own_aws_endpoint(dest, kind, scheme, host):
    if kind == "svn" and shutil.which("svn") is None:
        pytest.skip("subversion is not installed")
    url = f"{scheme}://{host}:{EMULATOR_PORT}/moto-api/data.json"
    message = _refused({"type": kind, "url": url}, dest, "stage's own AWS endpoint", timeout=5)
    assert f"127.0.0.1:{EMULATOR_PORT}" in message


@pytest.mark.parametrize("url", ["git://169.254.169.254/repo.git",
                                 "ssh://git@169.254.169.254/repo.git",
                                 "http://[fd00:ec2::254]/repo.git",
                                 "http://[::ffff:169.254.169.254]/repo.git"])
def test_metadata_addresses_are_refused_before_any_connection(dest, url):
    message = _refused({"type": "git", "url": url}, dest, "never allowed", timeout=30)
    assert "169.254.169.254" in message or "fd00:ec2::254" in message


def test_a_redirect_to_the_emulator_is_refused_and_nothing_is_downloaded(tmp_path, dest):
    targets = {"/by-ip.tgz": f"{EMULATOR}/moto-api/data.json",
               "/by-name.tgz": f"http://localhost:{EMULATOR_PORT}/moto-api/data.json"}
    with http_server(archive_site(tmp_path), redirects=targets) as base:
        message = _refused({"type": "http", "url": f"{base}/by-ip.tgz"}, dest,
                           "a redirect to http://127.0.0.1:")
        assert message.endswith(f"127.0.0.1:{EMULATOR_PORT} is the stage's own AWS endpoint "
                                "(AWS_ENDPOINT_URL); never allowed")
        message = _refused({"type": "http", "url": f"{base}/by-name.tgz"}, dest,
                           f"localhost resolves to 127.0.0.1:{EMULATOR_PORT}")


def test_a_cross_origin_redirect_drops_the_credentials(tmp_path, dest, aws_env):
    aws_env.client("ssm").put_parameter(Name="/fabu/http", Type="SecureString",
                                        Value=json.dumps({"username": "ci", "password": "hunter2"}))
    site = archive_site(tmp_path)
    seen_a, seen_b = [], []
    with http_server(site, seen=seen_b) as other:
        moves = {"/elsewhere.jar": f"{other}/app.jar", "/moved.jar": "/app.jar"}
        with http_server(site, auth=("ci", "hunter2"), redirects=moves, seen=seen_a) as base:
            source = {"type": "http", "credentials": "ssm:/fabu/http"}
            got = tree_listing(sources.fetch(dict(source, url=f"{base}/elsewhere.jar"), dest))
            assert got == {"elsewhere.jar": b"jar bytes"}
            shutil.rmtree(dest)
            dest.mkdir()
            got = tree_listing(sources.fetch(dict(source, url=f"{base}/moved.jar"), dest))
            assert got == {"moved.jar": b"jar bytes"}  # same origin: the credentials go along
    assert [r["path"] for r in seen_a] == ["/elsewhere.jar", "/moved.jar", "/app.jar"]
    assert all(r["headers"].get("Authorization", "").startswith("Basic ") for r in seen_a)
    assert [r["path"] for r in seen_b] == ["/app.jar"]
    assert "Authorization" not in seen_b[0]["headers"]


def test_an_https_to_http_downgrade_is_refused(tmp_path, dest, monkeypatch):
    cert, key = tls_cert(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    site = archive_site(tmp_path)
    seen = []
    with http_server(site, seen=seen) as plain:
        with http_server(site, redirects={"/app.jar": f"{plain}/app.jar"}, tls=(cert, key)) as base:
            assert base.startswith("https://")
            got = tree_listing(sources.fetch({"type": "http", "url": f"{base}/app.zip"}, dest))
            assert got == {"a.txt": b"a\n", "dir": "/", "dir/b.txt": b"b\n"}  # TLS verified
            shutil.rmtree(dest)
            dest.mkdir()
            by_name = base.replace("127.0.0.1", "localhost")  # SNI and the check on the name
            assert tree_listing(sources.fetch({"type": "http", "url": f"{by_name}/app-1.0.tar.gz"},
                                              dest))["README"] == b"readme\n"
            shutil.rmtree(dest)
            dest.mkdir()
            message = _refused({"type": "http", "url": f"{base}/app.jar"}, dest,
                               "would downgrade https to http")
    assert message.startswith(f"refused to fetch {base}/app.jar: a redirect from {base}/app.jar "
                              f"to {plain}/app.jar")
    assert seen == []


def test_at_most_five_redirects_are_followed(tmp_path, dest):
    chain = {f"/hop{i}": f"/hop{i + 1}" for i in range(1, 6)}
    chain["/hop6"] = "/app.jar"
    with http_server(archive_site(tmp_path), redirects=chain) as base:
        got = tree_listing(sources.fetch({"type": "http", "url": f"{base}/hop2"}, dest))
        assert got == {"hop2": b"jar bytes"}  # hop2 → hop3 → … → hop6 → app.jar: 5 redirects
        shutil.rmtree(dest)
        dest.mkdir()
        _refused({"type": "http", "url": f"{base}/hop1"}, dest,
                 rf"more than 5 redirects \(the limit\); the next was to {base}/app.jar")


@pytest.mark.parametrize("target", ["ftp://127.0.0.1:21/app.jar", "file:///etc/passwd"])
def test_a_redirect_to_another_scheme_is_refused(tmp_path, dest, target):
    with http_server(archive_site(tmp_path), redirects={"/app.jar": target}) as base:
        _refused({"type": "http", "url": f"{base}/app.jar"}, dest,
                 "only http, https redirects are followed")


def test_outside_local_loopback_needs_the_allowed_networks_setting(tmp_path, dest, monkeypatch):
    monkeypatch.setenv("FABU_STAGE", "dev")
    seen = []
    with http_server(archive_site(tmp_path), seen=seen) as base:
        message = _refused({"type": "http", "url": f"{base}/app.jar"}, dest,
                           "127.0.0.1 is a loopback address")
        assert message.endswith("allowed outside stage local only inside a network listed in "
                                "FABU_ALLOWED_NETWORKS")
        monkeypatch.setenv("FABU_ALLOWED_NETWORKS", "10.0.0.0/8,127.0.0.0/30")
        assert tree_listing(sources.fetch({"type": "http", "url": f"{base}/app.jar"}, dest)) == {
            "app.jar": b"jar bytes"}
        shutil.rmtree(dest)
        dest.mkdir()
        monkeypatch.setenv("FABU_ALLOWED_NETWORKS", "10.0.0.0/8, 127.0.0.1/33")
        _refused({"type": "http", "url": f"{base}/app.jar"}, dest,
                 "FABU_ALLOWED_NETWORKS has an invalid entry '127.0.0.1/33'")
    assert [r["path"] for r in seen] == ["/app.jar"]  # only while it was allowed


def test_outside_local_ftp_is_checked_too(tmp_path, dest, monkeypatch):
    (tmp_path / "ftp").mkdir()
    (tmp_path / "ftp" / "app.bin").write_bytes(b"bin")
    monkeypatch.setenv("FABU_STAGE", "dev")
    with ftp_server(tmp_path / "ftp") as base:
        _refused({"type": "ftp", "url": f"{base}/app.bin"}, dest, "127.0.0.1 is a loopback address")
        monkeypatch.setenv("FABU_ALLOWED_NETWORKS", "127.0.0.1/32")
        with pytest.raises(sources.SourceError, match="authentication failed"):
            sources.fetch({"type": "ftp", "url": f"{base}/app.bin"}, dest)  # connected: allowed


def test_file_urls_are_for_the_local_stage_only(tmp_path, dest, git_repo, monkeypatch):
    monkeypatch.setenv("FABU_STAGE", "dev")
    for kind in ("git", "svn"):
        _refused({"type": kind, "url": git_repo.as_uri()}, dest,
                 "file: URLs are allowed only in stage local")


def test_git_over_http_goes_through_the_guard(git_repo, tmp_path, dest, aws_env):
    aws_env.client("ssm").put_parameter(Name="/fabu/git", Type="SecureString", Value="tok-123")
    seen = []
    with git_http_server(git_repo, seen=seen) as repo_url:
        got = tree_listing(sources.fetch({"type": "git", "url": repo_url, "ref": "v1"}, dest))
        assert got["app.txt"] == b"one\n"
        shutil.rmtree(dest)
        dest.mkdir()
        moves = {"/repo.git/info/refs": f"{repo_url}info/refs?service=git-upload-pack",
                 "/evil.git/info/refs": f"{EMULATOR}/moto-api/data.json"}
        with http_server(tmp_path, redirects=moves) as front:
            got = tree_listing(sources.fetch({"type": "git", "url": f"{front}/repo.git",
                                              "ref": "v2", "credentials": "ssm:/fabu/git"}, dest))
            assert got["app.txt"] == b"two\n"
            shutil.rmtree(dest)
            dest.mkdir()
            _refused({"type": "git", "url": f"{front}/evil.git"}, dest,
                     f"a redirect to {EMULATOR}/moto-api/data.json: 127.0.0.1:{EMULATOR_PORT} is "
                     "the stage's own AWS endpoint")
    assert len(seen) > 2
    assert all(r["authorization"] is None for r in seen), "credentials stay with their origin"
