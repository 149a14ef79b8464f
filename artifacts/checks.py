"""The start-up check: with ``S3_OBJECT_LOCK``, every bucket behind the storages can carry legal holds.

Locked artifacts carry an S3 legal hold in the active *and* the archive bucket; a bucket created
without Object Lock only shows it when the first hold fails ("Bucket is missing
ObjectLockConfiguration"). This check says so before anything is served: an **Error**
(``artifacts.E001``) per bucket that lacks versioning or Object Lock, a **Warning**
(``artifacts.W001``) when the buckets cannot be asked (``/healthz`` reports that case at run time).

It runs on the start-up path only — ``manage.py check`` (``--deploy`` too), ``manage.py runserver``
and the WSGI server's start (:func:`check_at_startup`, called by ``config/wsgi.py``) — never at
import, and is skipped (no S3 call) when the storages are the file system or ``S3_OBJECT_LOCK`` is off.
"""

import logging
import sys

from django.conf import settings
from django.core import checks

from .storage import CHECK_TIMEOUT, StorageError, object_lock_problems

log = logging.getLogger(__name__)

#: Commands whose system checks ask S3. Every management command runs the system checks first;
#: asking S3 there would slow each worker, cron or operator command down, or make it wait for an
#: unreachable endpoint, for a question only a start (or an operator's ``check``) needs answered.
STARTUP_COMMANDS = frozenset({"check", "runserver"})

HINT = (
    "Create the bucket with Object Lock enabled (which also enables versioning), as the README's "
    "Production section shows, or set S3_OBJECT_LOCK=false to run without S3 legal holds."
)


def _running_a_startup_command():
    # Django offers a check no way to know which command runs it; manage.py's subcommand is argv[1].
    return len(sys.argv) > 1 and sys.argv[1] in STARTUP_COMMANDS


def object_lock_messages(timeout=CHECK_TIMEOUT):
    """The check's findings now, wherever it runs: ``[]`` when ``S3_OBJECT_LOCK`` is off or the
    storages are the file system; an Error per bucket lacking versioning or Object Lock; a Warning
    when the buckets cannot be asked within ``timeout`` seconds."""
    if not getattr(settings, "S3_OBJECT_LOCK", False):
        return []
    try:
        problems = object_lock_problems(timeout)
    except StorageError as exc:
        return [
            checks.Warning(
                f"S3_OBJECT_LOCK is on, but Object Lock could not be verified: {exc}",
                hint="/healthz answers 503 until the bucket answers; check S3_ENDPOINT_URL and the credentials.",
                id="artifacts.W001",
            )
        ]
    return [
        checks.Error(f"S3_OBJECT_LOCK is on, but the {problem}.", hint=HINT, id="artifacts.E001")
        for problem in problems
    ]


def object_lock_check(app_configs=None, **kwargs):
    """System check (registered in ``ArtifactsConfig.ready``): :func:`object_lock_messages` on the
    start-up commands (``check``, ``runserver``), nothing on every other command."""
    if app_configs is not None and not any(config.name == "artifacts" for config in app_configs):
        return []
    if not _running_a_startup_command():
        return []
    return object_lock_messages()


def check_at_startup():
    """Run the check when a WSGI server (gunicorn) loads the application, since it runs no system
    checks of its own: log warnings, and refuse to start (``SystemCheckError``, which stops the
    worker from booting) when a bucket cannot carry the legal holds ``S3_OBJECT_LOCK`` promises."""
    messages = object_lock_messages()
    for message in messages:
        log.log(logging.ERROR if message.is_serious() else logging.WARNING, "%s (%s)", message.msg, message.id)
    errors = [message for message in messages if message.is_serious()]
    if errors:
        raise checks.SystemCheckError("\n".join(f"{error.id}: {error.msg} HINT: {error.hint}" for error in errors))
