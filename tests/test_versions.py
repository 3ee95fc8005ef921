"""Project versions order, validate and parse the way dpkg does (python-debian).

Every ordering below is Debian policy §5.6.12 or dpkg's documented behaviour, asserted against
``versions.compare`` and, when ``dpkg`` is on PATH (Debian CI machines), against
``dpkg --compare-versions`` itself, so a case that is wrong about dpkg fails here too.
"""
import shutil
import subprocess

import pytest

from chalicelib import versions

DPKG = shutil.which("dpkg")
_WORD = {"<": "lt", ">": "gt", "=": "eq"}

ORDER = [
    # epochs: the epoch wins, it ends at the FIRST colon, and a missing epoch is 0
    ("1:2:3", ">", "1:0.9"),          # upstream "2:3" > "0.9"
    ("1:1.0", ">", "2.0"),
    ("1:1.18.0-6ubuntu14", ">", "1.20"),
    ("2:0.1", ">", "1:9.9"),
    ("1:2.0", "<", "2:1.0"),
    ("10:1", ">", "9:1"),             # epochs compare as numbers
    ("0:1.0", "=", "1.0"),
    ("1:1.0-1", "=", "1:1.0-1"),
    # "~" sorts before anything, even the end of the string: ~~ < ~~a < ~ < "" < a
    ("2.0~rc1", "<", "2.0"),
    ("1.0~", "<", "1.0"),
    ("1.0~~", "<", "1.0~~a"),
    ("1.0~~a", "<", "1.0~"),
    ("1.0~", ">", "1.0~~"),
    ("1.0", "<", "1.0a"),
    ("1.0~rc1", "<", "1.0~rc2"),
    ("1.0~beta", "<", "1.0~rc"),
    ("1.0~rc1", ">", "1.0~beta9"),
    ("2.0~rc1~1", "<", "2.0~rc1"),
    ("1.0-1~bpo11+1", "<", "1.0-1"),  # a backport sorts before the release it backports
    # revisions: after the LAST hyphen; none is the same as "0"
    ("1.0-1", "<", "1.0-2"),
    ("1.0-10", ">", "1.0-9"),
    ("1.0", "<", "1.0-1"),
    ("1.0", "=", "1.0-0"),
    ("0", "=", "0:0-0"),
    ("1.2-3-4", ">", "1.2-3-3"),      # upstream "1.2-3", revision 4 vs 3
    ("1.2-3-1", ">", "1.2-1"),        # upstream "1.2-3" > "1.2"
    ("1.0-1ubuntu1", ">", "1.0-1"),
    ("1.18.4-2", "<", "1.18.4-2+deb11u1"),
    ("1.3", "<", "1.3-0.1"),
    # letters sort before non-letters, upper case before lower case (ASCII within each class)
    ("1.0a", "<", "1.0+"),
    ("1.0a", "<", "1.0."),
    ("1.0+", "<", "1.0."),
    ("1a", "<", "1b"),
    ("1A", "<", "1a"),
    ("1Z", "<", "1a"),
    ("1.0+dfsg-1", ">", "1.0-1"),
    ("1.0", "<", "1.0+b1"),
    ("7.6p2-4", ">", "7.6-0"),
    # digits compare as numbers, so leading zeros do not count
    ("1.10", ">", "1.9"),
    ("2", "<", "10"),
    ("1.100", ">", "1.99"),
    ("1.01", "=", "1.1"),
    ("1.001", "=", "1.1"),
    ("1.0010", ">", "1.9"),
    ("0001", "=", "1"),
    # a longer version with the same start is later; equal strings are equal
    ("1.0", "<", "1.0.1"),
    ("1.0.0", ">", "1.0"),
    ("1.000", "=", "1.0"),
    ("1.0.3-3", ">", "1.0-1"),
    ("1.2.3-4", "=", "1.2.3-4"),
]


def _sign(number: int) -> str:
    return "<" if number < 0 else ">" if number > 0 else "="


def _dpkg(a: str, op: str, b: str) -> bool:
    return subprocess.run([DPKG, "--compare-versions", a, op, b], capture_output=True,
                          timeout=30).returncode == 0


def test_the_table_is_large_and_every_version_in_it_is_valid():
    assert len(ORDER) >= 40
    assert all(versions.is_valid(v) for a, _, b in ORDER for v in (a, b))


@pytest.mark.parametrize("a, op, b", ORDER)
def test_compare_orders_like_dpkg(a, op, b):
    assert _sign(versions.compare(a, b)) == op
    assert _sign(versions.compare(b, a)) == {"<": ">", ">": "<", "=": "="}[op]
    if DPKG:
        assert _dpkg(a, _WORD[op], b), f"dpkg disagrees: {a} {op} {b}"


def test_dpkg_is_there_to_check_against_on_debian():
    if not DPKG:
        pytest.skip("dpkg is not on PATH: the table is checked against python-debian only")
    assert _dpkg("1.10", "gt", "1.9") and not _dpkg("1.10", "lt", "1.9")


# ----------------------------------------------------------------------------- is_valid


@pytest.mark.parametrize("version", [
    "1.0", "1:2.0-1", "2.0~rc1", "1.0+dfsg-1ubuntu1", "0", "1:2:3", "1.0-1-2", "1." + "a" * 126,
    "2147483647:1",
])
def test_valid_versions(version):
    assert versions.is_valid(version)
    if DPKG:
        assert _dpkg(version, "eq", version)


@pytest.mark.parametrize("version", [
    "1_0",          # "_" is no Debian version character
    "1.0 ", " 1.0", "1 0", "", "-1", "~1", ".1", "1:", "a:1", "1.0-a:b", "a" * 129,
    None, 1, 1.0, ["1.0"],
])
def test_invalid_versions(version):
    assert not versions.is_valid(version)


@pytest.mark.parametrize("version", [
    "1.0-",          # dpkg: revision number is empty
    "1.0-1-",        # dpkg: revision number is empty
    "1:-1",          # dpkg: version number is empty
    "2147483648:1",  # dpkg: epoch in version is too big
])
def test_versions_dpkg_refuses_are_invalid(version):
    if DPKG:
        assert not _dpkg(version, "eq", version)
    assert not versions.is_valid(version)


# ----------------------------------------------------------------------------- requirements

@pytest.mark.parametrize("spec, clauses", [
    (">=2.0,<3", [(">=", "2.0"), ("<", "3")]),
    ("1.4.2", [("==", "1.4.2")]),                     # a bare version means ==
    (" >= 2.0 , != 2.5 ", [(">=", "2.0"), ("!=", "2.5")]),
    ("=1:1.0-1", [("=", "1:1.0-1")]),
    ("<=2.0~rc1,>1", [("<=", "2.0~rc1"), (">", "1")]),
    ("==1.0", [("==", "1.0")]),
])
def test_parse_spec(spec, clauses):
    assert versions.parse_spec(spec) == clauses


@pytest.mark.parametrize("spec", [None, "", "   ", 5])
def test_parse_spec_refuses_no_requirement(spec):
    with pytest.raises(ValueError, match=r"^must be a version requirement such as '>=2.0'$"):
        versions.parse_spec(spec)


@pytest.mark.parametrize("spec, clause", [
    (">=", ">="), ("=>2.0", "=>2.0"), (">=2.0,,<3", ""), ("~>1.0", "~>1.0"),
    (">=1_0", ">=1_0"), (">=2.0;<3", ">=2.0;<3"), (">> 1", ">> 1"), ("<<1", "<<1"),
])
def test_parse_spec_names_the_bad_clause(spec, clause):
    with pytest.raises(ValueError) as raised:
        versions.parse_spec(spec)
    assert str(raised.value) == (f"bad clause {clause!r}: use an operator (>=, <=, ==, !=, >, <) "
                                 "and a version")


@pytest.mark.parametrize("version, spec, expected", [
    ("1.10", ">=1.9", True),            # numeric, not string, order
    ("2.0~rc1", ">=2.0", False),        # a pre-release is before its release
    ("2.0~rc1", "<2.0", True),
    ("1:0.5", ">2.0", True),            # the epoch wins
    ("1.4", ">=1.0,<2.0,!=1.5", True),
    ("1.5", ">=1.0,<2.0,!=1.5", False),  # every clause must hold
    ("2.0", "<2.0", False),
    ("2.0", "<=2.0", True),
    ("2.0", ">2.0", False),
    ("2.0", ">=2.0", True),
    ("1.0", "1.0-0", True),             # equal the way dpkg says, not as strings
    ("1.01", "==1.1", True),
    ("1.0", "=1.0", True),
    ("1.0", "!=1.0-0", False),
    ("3", "<3", False),
    (None, ">=1", False),               # a host that runs nothing meets no requirement
    ("", ">=1", False),
])
def test_satisfies(version, spec, expected):
    assert versions.satisfies(version, spec) is expected


def test_satisfies_refuses_a_bad_requirement():
    with pytest.raises(ValueError, match="bad clause"):
        versions.satisfies("1.0", "about 1.0")


# ----------------------------------------------------------------------------- Debian relations

@pytest.mark.parametrize("text, alternatives", [
    ("nginx", [{"name": "nginx"}]),
    ("  nginx  ", [{"name": "nginx"}]),
    ("nginx (>= 1.18)", [{"name": "nginx", "op": ">=", "version": "1.18"}]),
    ("nginx (>=1.18)", [{"name": "nginx", "op": ">=", "version": "1.18"}]),
    ("libc6 (<< 2.36)", [{"name": "libc6", "op": "<<", "version": "2.36"}]),
    ("libc6 (<= 2.36)", [{"name": "libc6", "op": "<=", "version": "2.36"}]),
    ("libc6 (= 2.36-9+deb12u4)", [{"name": "libc6", "op": "=", "version": "2.36-9+deb12u4"}]),
    ("libc6 (>> 1:2.0~rc1)", [{"name": "libc6", "op": ">>", "version": "1:2.0~rc1"}]),
    ("nginx (>= 1.18) | apache2", [{"name": "nginx", "op": ">=", "version": "1.18"},
                                   {"name": "apache2"}]),
    ("aa (<< 1) | bb (<= 2) | cc (= 3) | dd (>= 4) | ee (>> 5)",
     [{"name": "aa", "op": "<<", "version": "1"}, {"name": "bb", "op": "<=", "version": "2"},
      {"name": "cc", "op": "=", "version": "3"}, {"name": "dd", "op": ">=", "version": "4"},
      {"name": "ee", "op": ">>", "version": "5"}]),
    ("libc6:amd64 (>= 2.31)", [{"name": "libc6:amd64", "op": ">=", "version": "2.31"}]),
    ("python3:any", [{"name": "python3:any"}]),
    ("g++-12", [{"name": "g++-12"}]),
])
def test_parse_deb_relation(text, alternatives):
    assert versions.parse_deb_relation(text) == alternatives


def test_every_debian_operator_maps_to_the_dpkg_word():
    assert versions.DPKG_OPS == {"<<": "lt", "<=": "le", "<": "le", "=": "eq", ">=": "ge",
                                 ">>": "gt", ">": "ge"}
    if DPKG:
        for op, word in versions.DPKG_OPS.items():
            assert _dpkg("1.0", word, "1.0") is (op in ("<=", "<", "=", ">=", ">"))


ONE = "must be one Debian dependency such as 'nginx (>= 1.18)' or 'a | b'"
ARCH = "architecture lists and build profiles are not supported"
OPERATORS = "the operators are << <= = >= >>"
NAMES = ("use 'name', 'name (op version)' or 'a | b' "
         "(package names: lowercase letters, digits, + - .)")


@pytest.mark.parametrize("text, message", [
    (None, ONE), ("", ONE), ("   ", ONE), ("nginx, apache2", ONE), ("x" * 501, ONE), (5, ONE),
    ("nginx [amd64]", f"'nginx [amd64]': {ARCH}"),
    ("nginx (>= 1.18) [!i386]", f"'nginx (>= 1.18) [!i386]': {ARCH}"),
    ("nginx <!nocheck>", f"'nginx <!nocheck>': {ARCH}"),
    ("nginx (< 1.18)", f"bad relation in 'nginx (< 1.18)': {OPERATORS}"),  # deprecated forms
    ("nginx (> 1.18)", f"bad relation in 'nginx (> 1.18)': {OPERATORS}"),
    ("nginx (== 1.18)", f"bad relation in 'nginx (== 1.18)': {OPERATORS}"),
    ("Nginx", f"cannot parse 'Nginx': {NAMES}"),           # upper case
    ("n", f"cannot parse 'n': {NAMES}"),                   # one character
    ("foo_bar", f"cannot parse 'foo_bar': {NAMES}"),
    ("foo bar", f"cannot parse 'foo bar': {NAMES}"),
    ("nginx | ", f"cannot parse '': {NAMES}"),
    ("nginx (>= 1_0)", f"cannot parse 'nginx (>= 1_0)': {NAMES}"),
    ("nginx (>= )", f"cannot parse 'nginx (>= )': {NAMES}"),
    ("nginx ()", f"cannot parse 'nginx ()': {NAMES}"),
    ("nginx (>= 1.18", f"cannot parse 'nginx (>= 1.18': {NAMES}"),
    ("nginx (~> 1.18)", f"cannot parse 'nginx (~> 1.18)': {NAMES}"),
    ("nginx (>= -1)", "bad version '-1' for nginx"),
    ("nginx (>= ~1)", "bad version '~1' for nginx"),
    ("nginx (>= 1:)", "bad version '1:' for nginx"),
    ("nginx (>= a:1)", "bad version 'a:1' for nginx"),
    ("nginx (>= " + "1" * 200 + ")", f"bad version {'1' * 60!r} for nginx"),
])
def test_parse_deb_relation_says_what_is_wrong(text, message):
    with pytest.raises(ValueError) as raised:
        versions.parse_deb_relation(text)
    assert str(raised.value) == message


def test_a_relation_on_a_version_dpkg_refuses_is_refused():
    # the host checks the relation with `dpkg --compare-versions`, which would stop with rc 2
    with pytest.raises(ValueError, match=r"^bad version '1.0-' for nginx$"):
        versions.parse_deb_relation("nginx (>= 1.0-)")
