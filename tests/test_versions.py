"""Project versions compare the way ``dpkg --compare-versions`` does (python-debian)."""
import shutil
import subprocess

import pytest

from chalicelib import versions


@pytest.mark.parametrize("a, op, b", [
    ("1:2:3", ">", "1:0.9"),   # the epoch ends at the FIRST colon: upstream 2:3 > 0.9
    ("1.10", ">", "1.9"),
    ("2.0~rc1", "<", "2.0"),
])
def test_compare_agrees_with_dpkg(a, op, b):
    sign = {"<": -1, ">": 1, "=": 0}[op]
    result = versions.compare(a, b)
    assert (result > 0) - (result < 0) == sign
    if shutil.which("dpkg"):
        word = {"<": "lt", ">": "gt", "=": "eq"}[op]
        assert subprocess.run(["dpkg", "--compare-versions", a, word, b]).returncode == 0
