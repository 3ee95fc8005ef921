"""The hand-made requests the docs show work as shown: ``curl --aws-sigv4`` (docs/auth.md)."""
import shutil
import subprocess

import pytest

from tests.cli.support import PROJECT_YAML, fabu, write_yaml
from tests.conftest import ADMIN_KEY, ADMIN_SECRET

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")


def _curl(live, path):
    """``curl --aws-sigv4`` as docs/auth.md writes it; the HTTP status."""
    done = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--aws-sigv4",
                           "aws:amz:us-east-1:execute-api", "--user", f"{ADMIN_KEY}:{ADMIN_SECRET}",
                           f"{live.url}{path}"], capture_output=True, text=True, timeout=30)
    return int(done.stdout or 0)


def test_curl_signs_a_query_as_written_so_colons_must_be_percent_encoded(live, tmp_path):
    assert fabu(live, "project", "create", "-f", write_yaml(tmp_path, PROJECT_YAML))[0] == 0
    good = "/api/v1/project/shop/events?limit=5&since=2026-11-04T08%3A00%3A00Z"  # as docs/auth.md
    assert _curl(live, good) == 200
    assert _curl(live, "/api/v1/project/shop/events?since=2026-11-04T08%3A00%3A00Z") == 200
    assert _curl(live, "/api/v1/project/shop/events?since=2026-11-04T08:00:00Z") == 403
    assert _curl(live, "/api/v1/project/shop/events?since=2026-11-04T08%3A00%3A00Z&limit=5") == 403
