"""ftp sources: a directory tree or one file, credentials from SSM, actionable errors."""
import json

import pytest

from chalicelib.build import sources
from tests.support.builds import free_port, ftp_server, tree_listing


def _fetch(source, dest, **kwargs):
    return tree_listing(sources.fetch(source, dest, **kwargs))


@pytest.fixture
def ftp_root(tmp_path):
    root = tmp_path / "ftp"
    (root / "release" / "conf").mkdir(parents=True)
    (root / "release" / "app.bin").write_bytes(b"\x00\x01binary")
    (root / "release" / "conf" / "app.ini").write_text("[app]\n")
    return root


@pytest.fixture
def ftp_creds(aws_env):
    aws_env.client("ssm").put_parameter(
        Name="/fabu/ftp", Type="SecureString",
        Value=json.dumps({"username": "deploy", "password": "s3cret"}))
    return "ssm:/fabu/ftp"


def test_ftp_directory_tree(ftp_root, dest, ftp_creds):
    with ftp_server(ftp_root) as base:
        got = _fetch({"type": "ftp", "url": base + "/release", "credentials": ftp_creds}, dest)
    assert got == {"app.bin": b"\x00\x01binary", "conf": "/", "conf/app.ini": b"[app]\n"}


def test_ftp_single_file(ftp_root, dest, ftp_creds):
    with ftp_server(ftp_root) as base:
        got = _fetch({"type": "ftp", "url": base + "/release/app.bin", "credentials": ftp_creds},
                     dest)
    assert got == {"app.bin": b"\x00\x01binary"}


def test_ftp_directory_larger_than_the_budget_is_refused(ftp_root, dest, ftp_creds):
    with ftp_server(ftp_root) as base:
        with pytest.raises(sources.SourceError, match="larger than the 5-byte limit"):
            sources.fetch({"type": "ftp", "url": base + "/release", "credentials": ftp_creds},
                          dest, max_bytes=5)


def test_ftp_wrong_password_and_unreachable_server(ftp_root, dest, aws_env):
    aws_env.client("ssm").put_parameter(Name="/fabu/bad", Type="SecureString",
                                        Value=json.dumps({"username": "deploy", "password": "no"}))
    with ftp_server(ftp_root) as base:
        with pytest.raises(sources.SourceError, match="authentication failed for ftp://127.0.0.1"):
            sources.fetch({"type": "ftp", "url": base + "/release", "credentials": "ssm:/fabu/bad"},
                          dest)
    port = free_port()
    with pytest.raises(sources.SourceError, match=f"could not connect to 127.0.0.1:{port}") as err:
        sources.fetch({"type": "ftp", "url": f"ftp://127.0.0.1:{port}/x"}, dest, timeout=5)
    assert err.value.retryable
