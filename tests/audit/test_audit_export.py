"""The daily export: yesterday's audit log as JSON lines in the release bucket, from the same
schedule as the daily report; the same bytes when it runs again."""
import datetime
import json

from tests.conftest import base_project, boto_client

UTC = datetime.timezone.utc
ALICE = "arn:aws:iam::000000000000:user/fabu-admins/alice"


def _object(key):
    return boto_client("s3").get_object(Bucket="fabu-local-releases", Key=key)


def test_the_daily_schedule_exports_the_day_as_json_lines_idempotently(api, signed_client):
    from chalicelib.audit import export, log
    from chalicelib.notify import reports
    alice = signed_client(ALICE)
    assert alice.post("/api/v1/project", base_project(name="web")).status == 201
    assert api.post("/api/v1/freeze", {"reason": "export day"}).status == 201
    assert alice.post("/api/v1/audit", {"action": "key.minted", "detail": {"host": "web-1"},
                                        "message": "minted a key for web-1"}).status == 201
    today = datetime.datetime.now(UTC)
    log.record("key.minted", ALICE, detail={"host": "old"}, at=today - datetime.timedelta(days=1))
    shown = api.get("/api/v1/audit?limit=500").json["entries"]
    assert len(shown) == 4

    tomorrow = (today + datetime.timedelta(days=1)).replace(hour=8, minute=0, second=0)
    event = {"time": tomorrow.strftime("%Y-%m-%dT%H:%M:%SZ")}
    reports.run_scheduled(event, now=tomorrow)               # what EventBridge runs at 08:00 UTC
    key = f"audit/{today.date().isoformat()}.jsonl"
    first = _object(key)
    assert first["ContentType"] == "application/x-ndjson"
    body = first["Body"].read()
    lines = [json.loads(line) for line in body.decode().splitlines()]
    assert lines == shown[::-1][1:]                          # today's, oldest first: not yesterday's
    assert [(e["actor"], e["action"], e["project"]) for e in lines] == [
        (ALICE, "project.created", "web"),
        ("arn:aws:iam::000000000000:user/fabu-admin", "stage.frozen", "-"),
        (ALICE, "key.minted", "-")]
    assert lines[-1]["detail"] == {"host": "web-1"} and lines[-1]["message"] == "minted a key for web-1"
    assert body == b"".join(json.dumps(e, sort_keys=True, separators=(",", ":")).encode() + b"\n"
                            for e in lines)                  # one compact line per entry

    assert export.export_day(today.date()) == {"key": key, "entries": 3, "bytes": len(body)}
    assert _object(key)["Body"].read() == body               # run again: the same bytes
    assert _object(f"reports/{today.date().isoformat()}.json")  # beside the day's report

    assert export.export_day(tomorrow.date())["entries"] == 0   # a quiet day: an empty object
    assert _object(f"audit/{tomorrow.date().isoformat()}.jsonl")["Body"].read() == b""
