"""Counting the DynamoDB requests fabu's models make, at the AWS boundary.

``dynamodb_calls(models)`` hooks botocore's ``before-parameter-build`` event on the models'
clients for the length of a ``with`` block and collects one entry per request: the operation
name, or what ``what(operation, params)`` makes of it (``params``: the request's parameters,
e.g. its ``Key``; None leaves the request out). The hooks are removed when the block ends, whatever happens in it.
"""
import contextlib
from collections.abc import Callable, Iterable, Iterator


def _operation(operation: str, params: dict) -> str:
    return operation


@contextlib.contextmanager
def dynamodb_calls(models: Iterable, what: Callable[[str, dict], object] = _operation
                   ) -> Iterator[list]:
    """The list of the block's DynamoDB requests made through ``models``' clients."""
    clients = {id(c): c for c in (m._get_connection().connection.client for m in models)}
    calls: list = []

    def count(model, params, **kwargs):
        entry = what(model.name, params)
        if entry is not None:
            calls.append(entry)
    for client in clients.values():
        client.meta.events.register("before-parameter-build.dynamodb", count)
    try:
        yield calls
    finally:
        for client in clients.values():
            client.meta.events.unregister("before-parameter-build.dynamodb", count)
