"""Compatibility fixes for the libraries Holdfast builds on, each with the upstream issue that
removes it, and each covered by a test that fails without it."""

import django_rq.utils


def scheduler_pid(queue):
    """``django_rq.utils.get_scheduler_pid`` for rq ≥ 2.10, whose scheduler lock holds the
    scheduler's name, not its PID: django-rq 3.2 reads it as an int and ``/admin/django-rq/``
    answers 500 (rq/django-rq#803; fixed upstream by rq/django-rq#800, using
    ``Queue.scheduler_pid``). ``None`` when it cannot be told, as django-rq documents."""
    try:
        return queue.scheduler_pid
    except Exception:
        return None


def install():
    """Put the fixes in place (``CoreConfig.ready``); remove each once the pinned library has it."""
    django_rq.utils.get_scheduler_pid = scheduler_pid
