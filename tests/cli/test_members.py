"""``fabu hosts PROJECT`` (and ``fabu project hosts``): a project's hosts a page at a time with
their zone, member kind and traffic draining; ``fabu show`` says how many hosts there are per
zone and kind, and shows the zone and drain state of each row.

The fleet's members are seeded at the storage boundary (what the fleet sync and the drain would
have written); the CLI reads them through the API like any user.
"""
import datetime
import json

from chalicelib.states import HostStatus
from tests.cli.support import fabu
from tests.conftest import base_project

NOW = datetime.datetime.now(datetime.timezone.utc)
LISTED = [{"name": "web-1.example.com", "zone": "us-east-1a"}, "web-2.example.com"]
DRAIN = {"state": "draining", "target_groups": ["arn:aws:elasticloadbalancing:us-east-1:000000000000:"
                                                "targetgroup/web/1"],
         "since": "2026-11-04T10:00:00Z", "until": "2026-11-04T10:05:00Z"}


def _seed(live):
    from chalicelib.models import HostState, wave_key
    response = live.request("POST", "/api/v1/project", base_project(hosts=LISTED))
    assert response.status_code == 201, response.text
    members = {"i-0a.ec2.internal": (HostStatus.DRAINING, "us-east-1a"),
               "i-0b.ec2.internal": (HostStatus.SUCCEEDED, "us-east-1b"),
               "i-0c.ec2.internal": (HostStatus.WAITING, "us-east-1b"),
               "i-0d.ec2.internal": (HostStatus.LEFT, "us-east-1a")}
    with HostState.batch_write() as batch:
        batch.save(HostState("web-1.example.com", "web", wave=0, status=HostStatus.SUCCEEDED,
                             wave_key=wave_key(0, HostStatus.SUCCEEDED, "web-1.example.com"),
                             target_version="1.0.0", running_version="1.0.0"))
        for host, (status, zone) in members.items():
            batch.save(HostState(host, "web", wave=1, status=status, wave_key=wave_key(1, status, host),
                                 member="fleet", zone=zone, joined_at=NOW, target_version="1.0.0",
                                 drain=DRAIN if status == HostStatus.DRAINING else None,
                                 left_at=NOW if status == HostStatus.LEFT else None))


def test_hosts_pages_with_filters_and_shows_zone_member_and_drain(live):
    _seed(live)
    code, out, err = fabu(live, "hosts", "web", "--zone", "us-east-1a")
    assert code == 0, err
    assert "web-1.example.com" in out and "i-0a.ec2.internal" in out and "i-0d.ec2.internal" in out
    assert "i-0b.ec2.internal" not in out
    assert "draining until 2026-11-04T10:05:00Z" in out and "fleet" in out and "listed" in out
    code, out, err = fabu(live, "project", "hosts", "web", "--member", "fleet", "--status", "draining,left")
    assert code == 0, err
    assert "i-0a.ec2.internal" in out and "i-0d.ec2.internal" in out and "web-1" not in out

    # one page, then the command for the next one; --all follows them to the end
    code, out, err = fabu(live, "hosts", "web", "--limit", "2")
    assert code == 0 and len([l for l in out.splitlines() if ".internal" in l or ".example.com" in l]) == 2
    assert "more hosts: fabu hosts web --limit 2 --cursor " in err and "(or --all)" in err
    cursor = err.split("--cursor ")[1].split()[0]
    code, out, err = fabu(live, "-o", "json", "hosts", "web", "--limit", "2", "--cursor", cursor)
    assert code == 0 and len(json.loads(out)["hosts"]) == 2
    code, out, err = fabu(live, "-o", "json", "hosts", "web", "--limit", "2", "--all")
    assert code == 0, err
    rows = json.loads(out)
    assert rows["next_cursor"] is None
    assert sorted(r["host"] for r in rows["hosts"]) == sorted(
        ["web-1.example.com", "i-0a.ec2.internal", "i-0b.ec2.internal", "i-0c.ec2.internal",
         "i-0d.ec2.internal"])

    code, out, err = fabu(live, "hosts", "web", "--status", "broken")
    assert code == 1 and "HTTP 400" in err and "status:" in err
    code, out, err = fabu(live, "hosts", "nope")
    assert code == 1 and "HTTP 404" in err


def test_show_lists_zones_drain_and_member_counts(live):
    _seed(live)
    code, out, err = fabu(live, "show", "web")
    assert code == 0, err
    assert "hosts    5 (2 listed, 3 in the fleet); zones us-east-1a 2, us-east-1b 2" in out
    assert "last day: 4 joined, 1 left" in out
    line = next(l for l in out.splitlines() if l.strip().startswith("i-0a.ec2.internal"))
    assert "us-east-1a" in line and "draining until 2026-11-04T10:05:00Z" in line
    lines = [l for l in out.splitlines() if ".internal" in l or ".example.com" in l]
    assert lines[-1].strip().startswith("i-0d.ec2.internal") and "left" in lines[-1]   # left hosts last
