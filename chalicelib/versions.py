"""Version strings and Debian relations, compared and parsed the way dpkg does (python-debian).

fabu orders project versions like ``dpkg --compare-versions`` (epoch, upstream, revision; ``~``
sorts before anything, so ``1.10 > 1.9`` and ``2.0~rc1 < 2.0``), so the platform and the hosts
agree. A ``depends_on`` requirement is one or more comma-separated clauses: ``>=2.0``, ``<3``,
``==1.4.2``, ``!=1.5``, or a bare version meaning ``==``. ``deb_dependencies`` entries are
Debian relations (``nginx (>= 1.18) | apache2``), parsed by ``debian.deb822.PkgRelation``.

``python-debian`` is imported on first use: the poll path compares versions only when a host
runs two dependent projects, and must not pay for the import otherwise.
"""
import functools
import logging
import re

#: What a version may look like: Debian's version syntax, starting with a letter or digit.
VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+~:-]{0,127}")
_CLAUSE_RE = re.compile(r"\s*(>=|<=|==|!=|>|<|=)?\s*([A-Za-z0-9][A-Za-z0-9.+~:-]{0,127})\s*")
_OPS = {
    ">=": lambda c: c >= 0, "<=": lambda c: c <= 0, ">": lambda c: c > 0, "<": lambda c: c < 0,
    "==": lambda c: c == 0, "=": lambda c: c == 0, "!=": lambda c: c != 0,
}
#: Debian's relation operators, and the word ``dpkg --compare-versions`` takes for each.
#: Policy 7.1: "<" and ">" are deprecated spellings of "<=" and ">=".
DPKG_OPS = {"<<": "lt", "<=": "le", "<": "le", "=": "eq", ">=": "ge", ">>": "gt", ">": "ge"}
_RELATION_OPS = ("<<", "<=", "=", ">=", ">>")
_DEB_NAME_RE = re.compile(r"[a-z0-9][a-z0-9+.-]+")
_EPOCH_MAX = 2 ** 31 - 1  # dpkg: "epoch in version is too big"


@functools.cache
def _debian_support():
    from debian import debian_support
    return debian_support


@functools.cache
def _pkg_relation():
    from debian.deb822 import PkgRelation
    logging.getLogger("debian.deb822").setLevel(logging.ERROR)  # we say what is wrong ourselves
    return PkgRelation


def compare(a: str, b: str) -> int:
    """Negative, zero or positive as ``a`` sorts before, equal to or after ``b`` (dpkg's order)."""
    return _debian_support().version_compare(a, b)


def is_valid(version: object) -> bool:
    """True for a string that is a Debian version of at most 128 characters."""
    if not isinstance(version, str) or not VERSION_RE.fullmatch(version):
        return False
    # What python-debian accepts but dpkg refuses: a non-numeric or huge epoch, an empty
    # upstream version or revision around the last hyphen ("1.0-", "1:-1").
    epoch, colon, rest = version.partition(":")
    if colon and (not epoch.isdigit() or int(epoch) > _EPOCH_MAX):
        return False
    upstream, hyphen, revision = (rest if colon else version).rpartition("-")
    if hyphen and not (upstream and revision):
        return False
    try:
        _debian_support().Version(version)
    except ValueError:
        return False
    return True


def parse_spec(spec: object) -> list[tuple[str, str]]:
    """``">=2.0,<3"`` → ``[(">=", "2.0"), ("<", "3")]``; ``ValueError`` naming the bad clause."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError("must be a version requirement such as '>=2.0'")
    clauses = []
    for raw in spec.split(","):
        match = _CLAUSE_RE.fullmatch(raw)
        if not match or not is_valid(match.group(2)):
            raise ValueError(f"bad clause {raw.strip()[:40]!r}: use an operator "
                             "(>=, <=, ==, !=, >, <) and a version")
        clauses.append((match.group(1) or "==", match.group(2)))
    return clauses


def satisfies(version: str | None, spec: str) -> bool:
    """True when ``version`` meets every clause of ``spec``."""
    if not version:
        return False
    return all(_OPS[op](compare(version, want)) for op, want in parse_spec(spec))


def parse_deb_relation(text: object) -> list[dict]:
    """One ``deb_dependencies`` entry as its alternatives: ``[{"name", "op"?, "version"?}, ...]``.

    ``"a (>= 1) | b"`` → ``[{"name": "a", "op": ">=", "version": "1"}, {"name": "b"}]``;
    ``ValueError`` saying what is wrong. ``name:arch`` is kept (``dpkg-query`` takes it);
    architecture lists and build profiles are refused: the host checks installed packages, it
    does not build.
    """
    if not isinstance(text, str) or not text.strip() or len(text) > 500 or "," in text:
        raise ValueError("must be one Debian dependency such as 'nginx (>= 1.18)' or 'a | b'")
    alternatives = []
    for parsed, raw in zip(_pkg_relation().parse_relations(text)[0], text.split("|")):
        name = parsed["name"]
        if parsed.get("arch") or parsed.get("restrictions"):
            raise ValueError(f"{raw.strip()[:60]!r}: architecture lists and build profiles are "
                             "not supported")
        if not _DEB_NAME_RE.fullmatch(name):
            raise ValueError(f"cannot parse {raw.strip()[:60]!r}: use 'name', 'name (op version)' "
                             "or 'a | b' (package names: lowercase letters, digits, + - .)")
        alternative = {"name": f"{name}:{parsed['archqual']}" if parsed.get("archqual") else name}
        if parsed.get("version"):
            op, version = parsed["version"]
            if op not in _RELATION_OPS:
                raise ValueError(f"bad relation in {raw.strip()[:60]!r}: the operators are "
                                 "<< <= = >= >>")
            # dpkg wants a package version's upstream part to start with a digit.
            if not is_valid(version) or not version.split(":", 1)[-1][:1].isdigit():
                raise ValueError(f"bad version {version[:60]!r} for {name}")
            alternative.update(op=op, version=version)
        elif "(" in raw:
            raise ValueError(f"bad relation in {raw.strip()[:60]!r}: the operators are "
                             "<< <= = >= >>")
        alternatives.append(alternative)
    return alternatives
