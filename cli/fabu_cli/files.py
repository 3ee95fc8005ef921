"""Project files: a body from YAML or JSON, with the number-for-text traps caught before the API.

YAML reads ``version: 1.10`` as the number 1.1 and ``deploy_at: 2026-11-04T22:00:00Z`` as a
timestamp. Times are kept as the text written (the API parses them); a number where a version or
a ref is expected is refused naming the field, with the text as written and how to quote it:
``version: 1.10 is a number in YAML (read as 1.1): quote it: version: "1.10"``.
"""
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import yaml

#: Fields that hold text that often looks like a number (``depends_on[i].version`` too).
TEXT_FIELDS = ("name", "version", "description", "ci_server")
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class _Number:
    """Mixin: a number that remembers how it was written (``1.10``, not ``1.1``)."""
    text = ""


class _Float(float, _Number):
    pass


class _Int(int, _Number):
    pass


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as text and numbers with their text."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def _remember(kind: type, construct):
    def constructor(loader: yaml.Loader, node: yaml.Node):
        value = kind(construct(loader, node))
        value.text = node.value
        return value
    return constructor


_Loader.add_constructor("tag:yaml.org,2002:float", _remember(_Float, yaml.SafeLoader.construct_yaml_float))
_Loader.add_constructor("tag:yaml.org,2002:int", _remember(_Int, yaml.SafeLoader.construct_yaml_int))


def _json_number(kind: type, parse):
    def parser(text: str):
        value = kind(parse(text))
        value.text = text
        return value
    return parser


def load_body(path: str) -> dict:
    """A project body from a YAML or JSON file (``-`` reads stdin; ``.json`` means JSON)."""
    is_json = path.endswith(".json")
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror}", param_hint="-f") from None
    except UnicodeDecodeError:
        raise click.BadParameter(f"{path} is not UTF-8 text", param_hint="-f") from None
    try:
        if is_json:
            body = json.loads(text, parse_float=_json_number(_Float, float),
                              parse_int=_json_number(_Int, int))
        else:
            body = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except (ValueError, yaml.YAMLError) as exc:
        raise click.BadParameter(f"{path} is not valid {'JSON' if is_json else 'YAML'}: {exc}",
                                 param_hint="-f") from None
    if not isinstance(body, dict):
        raise click.BadParameter(f"{path} must hold one object (a mapping of fields)", param_hint="-f")
    problems = [_quote_hint(field, value, is_json) for field, value in _text_fields(body)
                if isinstance(value, (int, float)) and not isinstance(value, bool)]
    if problems:
        raise click.BadParameter("\n".join(problems), param_hint="-f")
    return body


def _text_fields(body: dict) -> Iterator[tuple[str, object]]:
    """``(path, value)`` of every field that must be text and is often written like a number."""
    for field in TEXT_FIELDS:
        if field in body:
            yield field, body[field]
    source = body.get("source")
    if isinstance(source, dict) and "ref" in source:
        yield "source.ref", source["ref"]
    deps = body.get("depends_on")
    if isinstance(deps, list):
        for i, dep in enumerate(deps):
            if isinstance(dep, dict) and "version" in dep:
                yield f"depends_on[{i}].version", dep["version"]


def _quote_hint(path: str, value: float | int, is_json: bool) -> str:
    written = getattr(value, "text", "") or str(value)
    key = path.rsplit(".", 1)[-1]
    read = "" if written == repr(value) else f" (read as {value!r})"
    if is_json:
        return f'{path}: {written} is a JSON number{read}: quote it: "{key}": "{written}"'
    return f'{path}: {written} is a number in YAML{read}: quote it: {key}: "{written}"'
