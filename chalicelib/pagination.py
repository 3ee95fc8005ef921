"""Page cursors: DynamoDB's ``LastEvaluatedKey`` as an opaque URL-safe token, and back."""
import base64
import json

from chalicelib.errors import ValidationError


def encode(key: dict | None) -> str | None:
    """The ``next_cursor`` for a page that ended at ``key`` (None when it was the last page)."""
    if not key:
        return None
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def decode(cursor: str | None) -> dict | None:
    """The ``ExclusiveStartKey`` of a cursor (None for none); 400 for one this API did not issue."""
    if not cursor:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()))
        if not isinstance(key, dict):
            raise ValueError(cursor)
        return key
    except ValueError:
        raise ValidationError("bad cursor: pass the next_cursor of the previous page",
                              {"cursor": "is not a cursor this API issued"}) from None
