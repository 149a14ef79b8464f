"""The RQ cron schedule: periodic jobs, enqueued by ``manage.py rqcron config.schedule``.

Production runs exactly one cron scheduler next to the workers (see the README)::

    .venv/bin/python manage.py rqworker default --with-scheduler   # one or more workers
    .venv/bin/python manage.py rqcron config.schedule              # one cron scheduler

``rqcron`` (django-rq's ``DjangoCronScheduler``) imports this module, which registers each periodic
job with :func:`rq.cron.register`; it then enqueues every job on the ``default`` queue when due (at
start, then every ``interval`` seconds) and a worker runs it through :func:`config.jobs.run`, like
every other job. ``bin/serve`` starts it in the background whenever Redis answers. A second
scheduler by mistake is harmless: each job here is idempotent, it only runs more often.

Jobs: every periodic task the apps registered (:data:`config.jobs.PERIODIC`), each at its own
interval, among them:

- ``reap`` every 60 s: :func:`config.jobs.reap` turns In Progress rows (requests, sweeps) whose
  worker died into Error ("worker lost"). ``manage.py artifacts_requests reap`` runs it by hand.
- ``schedule_sweeps`` every hour (and at scheduler start): :func:`policies.sweep.schedule_daily_sweeps`
  creates each tenant's daily sweep run from ``LIFECYCLE_SWEEP_HOUR`` (tenant-local time), catches
  up a day the scheduler missed, and resumes failed or stuck runs. The run itself is a
  ``lifecycle_sweep`` job on the same queue.
"""

import inspect

from django.conf import settings
from django_rq.cron import DjangoCronScheduler
from rq import cron

from config.jobs import PERIODIC, run

_SUPPORTED = set(inspect.signature(DjangoCronScheduler.register).parameters) - {"self"}


def register(*args, **kwargs):
    """:func:`rq.cron.register`, minus the options ``DjangoCronScheduler.register`` does not accept.

    rq ≥ 2.10 records ``webhooks`` and ``name`` for every job, and ``load_config_from_file`` passes
    them on, but django-rq 3.2's ``DjangoCronScheduler.register`` has no such parameters: every job
    would fail to register ("unexpected keyword argument 'webhooks'", rq/django-rq#820) and the
    scheduler would start with no jobs and crash. Dropping them (both are unused here) fixes that;
    once django-rq accepts them, nothing is dropped.
    """
    data = cron.register(*args, **kwargs)
    for key in set(data) - _SUPPORTED:
        if data[key] not in (None, ""):
            raise ValueError(f"DjangoCronScheduler does not support the cron option {key!r}")
        del data[key]
    return data


for task in PERIODIC.values():
    register(
        run,
        queue_name=settings.RQ_QUEUE,
        args=(task.name,),
        interval=task.interval,
        job_timeout=task.timeout,
        result_ttl=3600,
        failure_ttl=7 * 86400,
    )
