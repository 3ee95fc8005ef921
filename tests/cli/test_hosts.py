"""``fabu local host-key``: mint (as before), list and revoke keys in the principals file the
running API reads; a revoked key is refused at once, and a revoke loses no concurrent mint."""
import json
import threading

from tests.cli.support import fabu
from tests.conftest import ADMIN_KEY


def _env(live):
    return {"FABU_PRINCIPALS": str(live.principals_path)}


def _minted(out):
    env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line and not line.startswith("#"))
    return env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]


def _poll(live, host, key, secret):
    return live.request("GET", f"/api/v1/{host}", key=key, secret=secret).status_code


def test_list_shows_every_key_and_revoke_by_name_removes_the_hosts_keys(live):
    first = _minted(fabu(live, "local", "host-key", "db-1.example.com", env=_env(live))[1])
    second = _minted(fabu(live, "local", "host-key", "mint", "db-1.example.com", env=_env(live))[1])
    other = _minted(fabu(live, "local", "host-key", "db-2.example.com", env=_env(live))[1])
    code, out, err = fabu(live, "-o", "json", "local", "host-key", "list", env=_env(live))
    assert code == 0, err
    keys = {row["access_key_id"]: row for row in json.loads(out)["keys"]}
    assert {first[0], second[0], other[0], ADMIN_KEY} <= set(keys)
    assert keys[first[0]]["host"] == "db-1.example.com" and keys[ADMIN_KEY]["host"] is None
    assert first[1] not in out and "secret" not in out  # never a secret
    code, out, err = fabu(live, "local", "host-key", "list", env=_env(live))
    assert code == 0 and first[0] in out and "db-1.example.com" in out and first[1] not in out
    assert _poll(live, "db-1.example.com", *first) == 204
    code, out, err = fabu(live, "local", "host-key", "revoke", "db-1.example.com", env=_env(live))
    assert code == 0, err
    assert f"revoked {first[0]}" in out and f"revoked {second[0]}" in out
    assert _poll(live, "db-1.example.com", *first) == 403  # the running API refuses it at once
    assert _poll(live, "db-1.example.com", *second) == 403
    assert _poll(live, "db-2.example.com", *other) == 204
    code, out, err = fabu(live, "local", "host-key", "revoke", "db-1.example.com", env=_env(live))
    assert code == 1 and "no host key 'db-1.example.com'" in err


def test_revoke_by_key_and_the_admin_key_needs_force(live):
    key, secret = _minted(fabu(live, "local", "host-key", "db-3.example.com", env=_env(live))[1])
    code, out, err = fabu(live, "local", "host-key", "revoke", key, env=_env(live))
    assert code == 0 and f"revoked {key} (arn:aws:iam::000000000000:user/fabu-hosts/db-3.example.com)" in out
    assert _poll(live, "db-3.example.com", key, secret) == 403
    code, out, err = fabu(live, "local", "host-key", "revoke", ADMIN_KEY, env=_env(live))
    assert code == 1 and "is not a host key" in err and "--force" in err
    assert live.request("GET", "/api/v1/project").status_code == 200  # the admin still works
    code, out, err = fabu(live, "local", "host-key", "revoke", "AKIANOSUCHKEY0000000", env=_env(live))
    assert code == 1 and "no key 'AKIANOSUCHKEY0000000'" in err


def test_rotate_mints_a_new_key_and_revokes_the_old(live):
    old = _minted(fabu(live, "local", "host-key", "db-4.example.com", env=_env(live))[1])
    code, out, err = fabu(live, "local", "host-key", "db-4.example.com", "--rotate", env=_env(live))
    assert code == 0 and f"revoked {old[0]}" in err
    new = _minted(out)
    assert _poll(live, "db-4.example.com", *old) == 403
    assert _poll(live, "db-4.example.com", *new) == 204


def test_a_revoke_loses_no_key_minted_meanwhile(live):
    from chalicelib.auth import principals
    for _ in range(3):
        principals.add_principal("arn:aws:iam::000000000000:user/fabu-hosts/old.example.com",
                                 path=str(live.principals_path))
    minted = []

    def mint(n):
        minted.append(principals.add_principal(
            f"arn:aws:iam::000000000000:user/fabu-hosts/new-{n}.example.com",
            path=str(live.principals_path)).access_key_id)
    threads = [threading.Thread(target=mint, args=(n,)) for n in range(20)]
    for thread in threads[:10]:
        thread.start()
    code, out, err = fabu(live, "local", "host-key", "revoke", "old.example.com", env=_env(live))
    for thread in threads[10:]:
        thread.start()
    for thread in threads:
        thread.join()
    assert code == 0 and out.count("revoked ") == 3
    stored = json.loads(live.principals_path.read_text())
    assert set(minted) <= set(stored) and len(minted) == 20
    assert not any(entry["arn"].endswith("/old.example.com") for entry in stored.values())
