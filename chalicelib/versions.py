"""Version strings: Debian-style ordering and ``depends_on`` requirement specs.

fabu compares versions the way ``dpkg --compare-versions`` does (epoch, upstream, revision; ``~``
sorts before anything), so ``1.10 > 1.9``, ``2.0~rc1 < 2.0`` and hosts and server agree.
A requirement spec is one or more comma-separated clauses: ``>=2.0``, ``<3``, ``==1.4.2``,
``!=1.5``, or a bare version meaning ``==``.
"""
import re

VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+~:-]{0,127}$")
_CLAUSE_RE = re.compile(r"^\s*(>=|<=|==|!=|>|<|=)?\s*([A-Za-z0-9][A-Za-z0-9._+~:-]{0,127})\s*$")
_OPS = {
    ">=": lambda c: c >= 0, "<=": lambda c: c <= 0, ">": lambda c: c > 0, "<": lambda c: c < 0,
    "==": lambda c: c == 0, "=": lambda c: c == 0, "!=": lambda c: c != 0,
}


def _order(ch):
    if ch == "~":
        return -1
    if ch.isalpha():
        return ord(ch)
    return ord(ch) + 256


def _compare_part(a, b):
    """dpkg's verrevcmp: alternate non-digit and digit runs."""
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _order(a[i]) if i < len(a) and not a[i].isdigit() else 0
            bc = _order(b[j]) if j < len(b) and not b[j].isdigit() else 0
            if ac != bc:
                return ac - bc
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return first_diff
    return 0


def _split(version):
    epoch, _, rest = version.rpartition(":") if ":" in version else ("0", "", version)
    upstream, _, revision = rest.rpartition("-") if "-" in rest else (rest, "", "0")
    try:
        epoch_n = int(epoch or 0)
    except ValueError:
        epoch_n = 0
    return epoch_n, upstream, revision


def compare(a, b):
    """Negative, zero or positive as ``a`` sorts before, equal to or after ``b``."""
    ea, ua, ra = _split(a)
    eb, ub, rb = _split(b)
    if ea != eb:
        return ea - eb
    return _compare_part(ua, ub) or _compare_part(ra, rb)


def is_valid(version):
    return isinstance(version, str) and bool(VERSION_RE.match(version))


def parse_spec(spec):
    """``">=2.0,<3"`` → ``[(">=", "2.0"), ("<", "3")]``; ``ValueError`` naming the bad clause."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError("must be a version requirement such as '>=2.0'")
    clauses = []
    for raw in spec.split(","):
        match = _CLAUSE_RE.match(raw)
        if not match:
            raise ValueError("bad clause %r: use an operator (>=, <=, ==, !=, >, <) and a version"
                             % raw.strip()[:40])
        clauses.append((match.group(1) or "==", match.group(2)))
    return clauses


def satisfies(version, spec):
    """True when ``version`` meets every clause of ``spec``."""
    if not version:
        return False
    return all(_OPS[op](compare(version, want)) for op, want in parse_spec(spec))
