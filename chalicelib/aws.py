"""Lazily created, cached boto3 clients.

Clients are built on first use, never at import time: that keeps cold starts short and lets moto
take over in tests. The endpoint comes only from ``AWS_ENDPOINT_URL`` (honoured by botocore), so
AWS, moto's server and LocalStack differ by one environment variable and no code path.
"""
import functools

import boto3
import botocore.client
from botocore.config import Config

_CONFIG = Config(retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=5,
                 read_timeout=30)
#: Clients called inside the tick's time budget: fewer retries, short timeouts.
_TICK_CONFIG = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=3,
                      read_timeout=10)


@functools.lru_cache(maxsize=None)
def client(service: str, region: str | None = None) -> "botocore.client.BaseClient":
    """The cached boto3 client of ``service`` (the stage's region unless ``region`` is given)."""
    from chalicelib import config
    return boto3.session.Session().client(service, region_name=region or config.region(),
                                          config=_CONFIG)


@functools.lru_cache(maxsize=None)
def elbv2() -> "botocore.client.BaseClient":
    """The ELBv2 client of traffic draining (``chalicelib.rollout.elb``; tick timeouts)."""
    from chalicelib import config
    return boto3.session.Session().client("elbv2", region_name=config.region(), config=_TICK_CONFIG)


def reset() -> None:
    """Forget cached clients (tests switch endpoints between runs)."""
    client.cache_clear()
    elbv2.cache_clear()
