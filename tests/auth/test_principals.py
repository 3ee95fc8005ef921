"""The principals file: read when it changes, written atomically, never leaking a secret."""

import json
import os
import re
import stat
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.auth.principals import PrincipalsError, PrincipalStore, add_principal, lookup

ARN = "arn:aws:iam::000000000000:user/fabu-hosts/web-1"


def _write(path, data):
    path.write_text(json.dumps(data), encoding="utf-8")


def test_a_missing_file_knows_no_keys(tmp_path):
    assert PrincipalStore(str(tmp_path / "absent.json")).lookup("AKIAANY") is None


def test_keys_are_read_and_changes_are_picked_up_without_a_restart(tmp_path):
    path = tmp_path / "principals.json"
    _write(path, {"AKIA1": {"secret_access_key": "s1", "arn": ARN}})
    store = PrincipalStore(str(path))
    assert store.lookup("AKIA1").arn == ARN
    _write(path, {"AKIA2": {"secret_access_key": "s2", "arn": ARN, "session_token": "t"}})
    os.utime(path, ns=(1, 1))  # even an edit in place with an odd mtime is seen
    assert store.lookup("AKIA1") is None
    assert store.lookup("AKIA2").session_token == "t"


def test_an_unreadable_file_is_an_error_that_does_not_quote_it(tmp_path):
    path = tmp_path / "principals.json"
    path.write_text('{"AKIA1": {"secret_access_key": "hunter2-secret", "arn": ', encoding="utf-8")
    with pytest.raises(PrincipalsError) as caught:
        PrincipalStore(str(path)).lookup("AKIA1")
    assert "hunter2" not in str(caught.value)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("entry", [{"arn": ARN}, {"secret_access_key": "s"}, "s", {"secret_access_key": 1, "arn": ARN}])
def test_an_entry_without_secret_and_arn_is_refused(tmp_path, entry):
    path = tmp_path / "principals.json"
    _write(path, {"AKIA1": entry})
    with pytest.raises(PrincipalsError, match="needs string secret_access_key and arn"):
        PrincipalStore(str(path)).lookup("AKIA1")


def test_add_principal_mints_aws_shaped_keys_in_a_private_file(tmp_path):
    path = str(tmp_path / "sub" / "principals.json")
    minted = add_principal(ARN, path=path)
    assert re.fullmatch(r"AKIA[A-Z0-9]{16}", minted.access_key_id)
    assert re.fullmatch(r"[A-Za-z0-9+/]{40}", minted.secret_access_key)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert PrincipalStore(path).lookup(minted.access_key_id) == minted
    assert minted.secret_access_key not in repr(minted)


def test_add_principal_keeps_existing_keys_even_when_writers_race(tmp_path):
    path = str(tmp_path / "principals.json")
    with ThreadPoolExecutor(max_workers=8) as pool:
        minted = list(pool.map(lambda i: add_principal(f"{ARN}-{i}", path=path), range(40)))
    store = PrincipalStore(path)
    assert all(store.lookup(p.access_key_id) == p for p in minted)
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".principals-")]


def test_lookup_follows_the_file_named_by_fabu_principals(tmp_path, monkeypatch):
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    one = add_principal(ARN, path=str(first), access_key_id="AKIAFIRST", secret_access_key="x")
    monkeypatch.setenv("FABU_PRINCIPALS", str(first))
    assert lookup("AKIAFIRST") == one
    monkeypatch.setenv("FABU_PRINCIPALS", str(second))
    assert lookup("AKIAFIRST") is None
