"""Stage settings read from the environment: resource names, limits and defaults.

Every AWS resource is named ``<FABU_PREFIX>-<FABU_STAGE>-<suffix>``, the same expression that
``infra/resources.json`` uses (``Fn::Sub: ${Prefix}-${Stage}-<suffix>``), so the app and the
template agree without a second list of names.
"""
import os


def prefix():
    """``fabu-dev``: the name prefix of every resource of this stage."""
    return f"{os.environ.get('FABU_PREFIX', 'fabu')}-{stage()}"


def stage():
    return os.environ.get("FABU_STAGE", "local")


def region():
    return (os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
            or "us-east-1")


def resource_name(suffix):
    return f"{prefix()}-{suffix}"


def table_name(suffix):
    return resource_name(suffix)


def release_bucket():
    return os.environ.get("FABU_RELEASE_BUCKET") or resource_name("releases")


def ui_bucket():
    return os.environ.get("FABU_UI_BUCKET") or resource_name("ui")


def build_queue_name():
    return resource_name("builds")


def notify_queue_name():
    return resource_name("notify.fifo")  # FIFO: one message group per project keeps order


def notify_topic_name():
    return resource_name("notifications")


def is_local():
    return stage() == "local"


def admin_patterns():
    """ARNs (exact or fnmatch globs) allowed to use the project routes."""
    raw = os.environ.get("FABU_ADMIN_ARNS", "")
    return [p.strip() for p in raw.split(",") if p.strip()]


def int_setting(name, default):
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def event_ttl_days():
    return int_setting("FABU_EVENT_TTL_DAYS", 90)


def heartbeat_seconds():
    return int_setting("FABU_HEARTBEAT_SECONDS", 900)
