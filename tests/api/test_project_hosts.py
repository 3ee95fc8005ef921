"""GET /api/v1/project/{id}/hosts: every member of a 50,000-host fleet paged through, filters exact,
cursors signed and tied to their query, bad parameters a 400 naming them; and the project view of
a fleet larger than it shows (the first rows, counts, ``truncated``).

The members are seeded at the storage boundary (straight into the hosts table through the
suite emulator's bulk put: what the fleet sync would have written), because syncing 50,000
instances through the emulator is not what is tested here; the next test's wipe empties it.
"""
import datetime
import time
from urllib.parse import urlencode

import pytest

from chalicelib.states import HostStatus
from tests.conftest import base_project, boto_client, put_items

UTC = datetime.timezone.utc
NOW = datetime.datetime.now(UTC).replace(microsecond=0)
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
WAVES = 5
#: The statuses members have, most of them settled; a few rare ones make sparse filters.
COMMON = (HostStatus.SUCCEEDED, HostStatus.WAITING, HostStatus.PENDING, HostStatus.IN_PROGRESS,
          HostStatus.IDLE, HostStatus.LEFT, HostStatus.DRAINING)
RARE = {7: HostStatus.LOST, 12_345: HostStatus.LOST, 40_001: HostStatus.LOST,
        20_000: HostStatus.FAILED, 33_333: HostStatus.FAILED}
LISTED = [{"name": "web-1.example.com", "zone": "us-east-1a"}, "web-2.example.com"]


def _member(i: int) -> dict:
    """Member ``i`` as its item is stored (DynamoDB JSON): zone, wave and status from ``i``."""
    host = f"i-{i:06d}.ec2.internal"
    status = RARE.get(i, COMMON[i % len(COMMON)])
    wave = i % WAVES
    item = {"host": {"S": host}, "project": {"S": "big"}, "wave_key": {"S": f"{wave:03}#{status}#{host}"},
            "wave": {"N": str(wave)}, "status": {"S": status}, "member": {"S": "fleet"},
            "zone": {"S": ZONES[i % 3]}}
    if i % 5 == 0:
        item["joined_at"] = {"S": (NOW - datetime.timedelta(hours=i % 48)).strftime("%Y-%m-%dT%H:%M:%S.000000+0000")}
    if status == HostStatus.LEFT:
        item["left_at"] = {"S": NOW.strftime("%Y-%m-%dT%H:%M:%S.000000+0000")}
    if status == HostStatus.DRAINING:
        item["drain"] = {"S": '{"state": "draining", "target_groups": ["arn:aws:elasticloadbalancing:'
                              'us-east-1:000000000000:targetgroup/web/1"], "since": "2026-01-01T00:00:00Z",'
                              ' "until": "2026-01-01T00:05:00Z"}'}
    return item


def _seed(count: int) -> float:
    """``count`` members put into the hosts table; the seconds it took."""
    from chalicelib.models import HostState
    began = time.monotonic()
    assert put_items(HostState.Meta.table_name, [_member(i) for i in range(count)]) == count
    return time.monotonic() - began


@pytest.fixture
def fleet(api):
    """Project ``big`` with two listed hosts and 50,000 fleet members."""
    assert api.post("/api/v1/project", base_project(name="big", hosts=LISTED)).status == 201
    seconds = _seed(50_000)
    print(f"seeded 50,000 members in {seconds:.1f} s")
    return 50_000


def _walk(api, **params):
    """Every row of the query, following ``next_cursor``; (rows, pages)."""
    rows, cursor, pages = [], None, 0
    while True:
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        got = api.get(f"/api/v1/project/big/hosts?{urlencode(query)}")
        assert got.status == 200, got
        assert len(got.json["hosts"]) <= int(params.get("limit", 100))
        rows += got.json["hosts"]
        pages += 1
        cursor = got.json["next_cursor"]
        if not cursor:
            return rows, pages


def _expected(count, keep):
    return {f"i-{i:06d}.ec2.internal" for i in range(count) if keep(i)}


def test_50000_members_paged_exactly_once_with_exact_filters(api, fleet):
    began = time.monotonic()
    rows, pages = _walk(api, limit=1000)
    names = [r["host"] for r in rows]
    assert len(names) == len(set(names)) == fleet          # every member once, no duplicates
    assert set(names) == _expected(fleet, lambda i: True)
    assert pages == fleet // 1000                            # full pages, none empty
    assert [(r["wave"], r["status"], r["host"]) for r in rows] == sorted(
        (r["wave"], r["status"], r["host"]) for r in rows)  # index order: wave, status, host
    by_host = {r["host"]: r for r in rows}
    draining = by_host["i-000006.ec2.internal"]
    assert (draining["status"], draining["member"], draining["zone"], draining["wave"]) == (
        HostStatus.DRAINING, "fleet", "us-east-1a", 1)
    assert draining["drain"]["state"] == "draining" and draining["drain"]["until"] == "2026-01-01T00:05:00Z"
    gone = by_host["i-000005.ec2.internal"]
    assert gone["status"] == HostStatus.LEFT and gone["left_at"] and gone["joined_at"]
    full_pass = time.monotonic() - began

    # a wave and one status: a key condition (begins_with), read exactly
    rows, _ = _walk(api, wave=2, status=HostStatus.PENDING, limit=1000)
    assert {r["host"] for r in rows} == _expected(
        fleet, lambda i: i % WAVES == 2 and i not in RARE and COMMON[i % len(COMMON)] == HostStatus.PENDING)
    # a wave, a zone and a list of statuses: the wave in the key, the rest filtered
    rows, _ = _walk(api, wave=4, zone="us-east-1b", status="left,draining", limit=1000)
    assert rows and {r["host"] for r in rows} == _expected(
        fleet, lambda i: i % WAVES == 4 and i % 3 == 1 and i not in RARE
        and COMMON[i % len(COMMON)] in (HostStatus.LEFT, HostStatus.DRAINING))
    assert all(r["zone"] == "us-east-1b" for r in rows)
    # a sparse filter over the whole fleet: each page's work is bounded, so pages come back short
    # (or empty) with a cursor until the end, and the few matches are found exactly once
    rows, pages = _walk(api, status=HostStatus.LOST, limit=1000)
    assert sorted(r["host"] for r in rows) == sorted(_expected(fleet, lambda i: RARE.get(i) == HostStatus.LOST))
    assert pages > 1
    print(f"full pass {full_pass:.1f} s, whole test {time.monotonic() - began:.1f} s")


@pytest.fixture
def small(api):
    """Project ``web``: two listed hosts (one zoned in the spec only) with items, 30 members."""
    from chalicelib.models import HostState, wave_key
    assert api.post("/api/v1/project", base_project(hosts=LISTED)).status == 201
    with HostState.batch_write() as batch:
        for host in ("web-1.example.com", "web-2.example.com"):
            batch.save(HostState(host, "web", wave=0, status=HostStatus.SUCCEEDED,
                                 wave_key=wave_key(0, HostStatus.SUCCEEDED, host), target_version="1.0.0"))
    ddb, table = boto_client("dynamodb"), HostState.Meta.table_name
    items = [dict(_member(i), project={"S": "web"}) for i in range(30)]
    for item in items:
        item["wave_key"] = {"S": item["wave_key"]["S"]}
    for start in range(0, 30, 25):
        ddb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": i}} for i in items[start:start + 25]]})
    return 32


def _small(api, **params):
    got = api.get(f"/api/v1/project/web/hosts?{urlencode(params)}")
    assert got.status == 200, got
    return got.json


def test_cursors_are_refused_when_tampered_or_reused_with_another_query(api, small):
    first = _small(api, limit=5, zone="us-east-1a")
    assert len(first["hosts"]) == 5 and first["next_cursor"]
    cursor = first["next_cursor"]
    rest, _ = _walk_web(api, limit=2, zone="us-east-1a", cursor=cursor)   # limit may change
    names = [r["host"] for r in first["hosts"] + rest]
    assert len(names) == len(set(names)) == 11 and "web-1.example.com" in names
    tampered = cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")
    for query in ({"zone": "us-east-1a", "cursor": tampered},          # edited
                  {"zone": "us-east-1b", "cursor": cursor},            # another filter
                  {"cursor": cursor},                                  # no filter at all
                  {"zone": "us-east-1a", "cursor": "x" * 40}):         # never issued
        got = api.get(f"/api/v1/project/web/hosts?{urlencode(query)}")
        assert got.status == 400 and "cursor" in got.json["fields"], (query, got)
    api.post("/api/v1/project", base_project(name="other"))
    got = api.get(f"/api/v1/project/other/hosts?{urlencode({'zone': 'us-east-1a', 'cursor': cursor})}")
    assert got.status == 400 and "cursor" in got.json["fields"]           # another project


def _walk_web(api, **params):
    rows, cursor, pages = [], params.pop("cursor", None), 0
    while True:
        page = _small(api, **dict(params, **({"cursor": cursor} if cursor else {})))
        rows += page["hosts"]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            return rows, pages


def test_listed_hosts_are_members_too_with_their_listed_zone(api, small):
    listed = _small(api, member="listed")["hosts"]
    assert {(r["host"], r["member"], r["zone"]) for r in listed} == {
        ("web-1.example.com", "listed", "us-east-1a"), ("web-2.example.com", "listed", None)}
    fleet = _small(api, member="fleet", limit=1000)["hosts"]
    assert len(fleet) == 30 and {r["member"] for r in fleet} == {"fleet"}
    assert "web-1.example.com" in {r["host"] for r in _small(api, zone="us-east-1a")["hosts"]}
    found = _small(api, q="I-00001")["hosts"]                        # host name contains
    assert sorted(r["host"] for r in found) == [f"i-{i:06d}.ec2.internal" for i in range(10, 20)]
    row = next(r for r in _small(api, wave=0, limit=1000)["hosts"] if r["host"] == "i-000000.ec2.internal")
    assert {"target_version", "running_version", "seen_version", "drift", "silent", "last_seen",
            "joined_at", "left_at", "drain"} <= set(row)


@pytest.mark.parametrize("query, field", [
    ("status=broken", "status"), ("status=failed%2C%2Clost", "status"), ("wave=x", "wave"),
    ("wave=-1", "wave"), ("wave=20", "wave"), ("zone=us_east", "zone"), ("zone=" + "a" * 65, "zone"),
    ("member=cloud", "member"), ("limit=0", "limit"), ("limit=1001", "limit"), ("limit=ten", "limit"),
    ("q=a%20b", "q"), ("cursor=not-a-cursor", "cursor"),
])
def test_bad_parameters_are_400_naming_the_parameter(api, small, query, field):
    got = api.get(f"/api/v1/project/web/hosts?{query}")
    assert got.status == 400 and list(got.json["fields"]) == [field], got


def test_unknown_project_is_404_and_hosts_may_not_list_members(api, signed_client, small):
    assert api.get("/api/v1/project/nope/hosts").status == 404
    host = signed_client("arn:aws:iam::000000000000:user/fabu-hosts/web-1.example.com")
    assert host.get("/api/v1/project/web/hosts").status == 403


def test_the_project_view_of_a_fleet_larger_than_it_shows(api):
    """600 members: the view returns the listed hosts and the first members up to 500 rows,
    problems first, counts over all of them, and the hosts that left apart."""
    from chalicelib.models import HostState
    from chalicelib.rollout import view
    assert api.post("/api/v1/project", base_project(name="big", hosts=LISTED)).status == 201
    ddb, table = boto_client("dynamodb"), HostState.Meta.table_name
    items = [_member(i) for i in range(600)]
    for start in range(0, 600, 25):
        ddb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": i}} for i in items[start:start + 25]]})
    hosts_view = api.get("/api/v1/project/big").json["hosts_view"]
    gone = sum(1 for i in range(600) if _member(i)["status"]["S"] == HostStatus.LEFT)
    assert hosts_view["truncated"] is True and hosts_view["shown"] == view.VIEW_ROWS
    assert hosts_view["total"] == 602 - gone and hosts_view["left"] == gone
    assert hosts_view["more"] == "/api/v1/project/big/hosts"
    rows = hosts_view["hosts"]
    assert len(rows) == view.VIEW_ROWS + min(gone, view.LEFT_ROWS)
    assert [r["host"] for r in rows[:2]] == ["web-1.example.com", "web-2.example.com"]
    assert rows[0]["member"] == "listed" and rows[0]["zone"] == "us-east-1a"
    assert rows[0]["status"] == "unknown"                              # listed, not planned yet
    assert rows[2]["host"] == "i-000007.ec2.internal" and rows[2]["status"] == HostStatus.LOST
    assert {r["status"] for r in rows[view.VIEW_ROWS:]} == {HostStatus.LEFT}
    assert HostStatus.LEFT not in {r["status"] for r in rows[:view.VIEW_ROWS]}
    counts = hosts_view["counts"]
    assert counts["member"] == {"listed": 2, "fleet": 600 - gone}
    assert sum(counts["zone"].values()) == 602 - gone and counts["zone"][""] == 1
    assert HostStatus.LEFT not in counts["status"] and counts["status"]["unknown"] == 2
    assert hosts_view["last_day"]["left"] == gone
    assert hosts_view["last_day"]["joined"] == sum(1 for i in range(600) if i % 5 == 0 and i % 48 < 24)
