"""http sources: one file kept or unpacked, credentials from SSM, actionable errors."""
import json

import pytest

from chalicelib.build import sources
from chalicelib.build.sources.http import authorization
from chalicelib.secrets import Credentials
from tests.support.builds import archive_site, free_port, http_server, tree_listing


def _fetch(source, dest, **kwargs):
    return tree_listing(sources.fetch(source, dest, **kwargs))


def test_http_single_file_keeps_its_name(tmp_path, dest):
    with http_server(archive_site(tmp_path)) as base:
        assert _fetch({"type": "http", "url": base + "/app.jar"}, dest) == {"app.jar": b"jar bytes"}


def test_http_tarball_is_unpacked_from_its_top_directory(tmp_path, dest):
    with http_server(archive_site(tmp_path)) as base:
        got = _fetch({"type": "http", "url": base + "/app-1.0.tar.gz"}, dest)
    assert got == {"README": b"readme\n", "bin": "/", "bin/start": b"#!/bin/sh\n"}
    assert not list(dest.parent.glob("fabu-*")), "temporary download dirs are cleaned up"


def test_http_zip_is_unpacked(tmp_path, dest):
    with http_server(archive_site(tmp_path)) as base:
        got = _fetch({"type": "http", "url": base + "/app.zip"}, dest)
    assert got == {"a.txt": b"a\n", "dir": "/", "dir/b.txt": b"b\n"}


@pytest.mark.parametrize("name", ["evil.tgz", "evil-link.tgz", "evil.zip"])
def test_http_archive_escaping_the_tree_is_refused(tmp_path, dest, name):
    with http_server(archive_site(tmp_path)) as base:
        with pytest.raises(sources.SourceError, match=f"archive {name} has an unsafe entry"):
            sources.fetch({"type": "http", "url": f"{base}/{name}"}, dest)
    assert not (tmp_path / "escape.txt").exists()
    assert not (dest.parent / "escape.txt").exists()


def test_http_not_found_and_unreachable(tmp_path, dest):
    with http_server(archive_site(tmp_path)) as base:
        with pytest.raises(sources.SourceError, match=r"not found \(HTTP 404\)") as err:
            sources.fetch({"type": "http", "url": base + "/missing.tgz"}, dest)
        assert not err.value.retryable
    port = free_port()
    with pytest.raises(sources.SourceError, match=f"could not connect to 127.0.0.1:{port}") as err:
        sources.fetch({"type": "http", "url": f"http://127.0.0.1:{port}/x.tgz"}, dest, timeout=5)
    assert err.value.retryable


def test_http_oversized_source_is_refused(tmp_path, dest):
    site = archive_site(tmp_path)
    (site / "big.bin").write_bytes(b"x" * 50_000)
    with http_server(site) as base:
        with pytest.raises(sources.SourceError, match="larger than the 10000-byte limit"):
            sources.fetch({"type": "http", "url": base + "/big.bin"}, dest, max_bytes=10_000)


def test_http_credentials_come_from_ssm_and_never_show(tmp_path, dest, aws_env):
    aws_env.client("ssm").put_parameter(
        Name="/fabu/http", Type="SecureString",
        Value=json.dumps({"username": "ci", "password": "hunter2"}))
    with http_server(archive_site(tmp_path), auth=("ci", "hunter2")) as base:
        with pytest.raises(sources.SourceError, match="authentication failed") as err:
            sources.fetch({"type": "http", "url": base + "/app.jar"}, dest)
        got = _fetch({"type": "http", "url": base + "/app.jar", "credentials": "ssm:/fabu/http"},
                     dest)
    assert got == {"app.jar": b"jar bytes"}
    assert "hunter2" not in str(err.value)


def test_authorization_is_basic_with_a_username_else_bearer():
    assert authorization(Credentials("ci", "hunter2")) == "Basic Y2k6aHVudGVyMg=="
    assert authorization(Credentials(None, "tok-123")) == "Bearer tok-123"
