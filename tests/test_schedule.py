"""The rqcron schedule registers every periodic job, and each one runs through the job runner."""

import pytest
from django_rq.cron import DjangoCronScheduler

from config import jobs
from policies.models import SweepRun


def test_rqcron_loads_the_reapers_and_the_daily_sweep_schedule(rq_queue):
    scheduler = DjangoCronScheduler(connection=rq_queue.connection)
    scheduler.load_config_from_file("config.schedule")
    registered = {job.args[0]: job for job in scheduler.get_jobs()}
    assert set(registered) == {
        "reap",
        "resume_interrupted",
        "schedule_sweeps",
        "audit_checkpoints",
        "schedule_ingestion",
        "ingestion_retries",
        "record_lock_lapses",
        "lock_expiry_notices",
        "expire_exports",
        "schedule_exports",
    }
    assert registered["reap"].interval == registered["resume_interrupted"].interval == 60
    assert registered["ingestion_retries"].interval == 60 and registered["schedule_ingestion"].interval == 300
    assert registered["record_lock_lapses"].interval == 60
    assert registered["lock_expiry_notices"].interval == 86400
    assert registered["schedule_sweeps"].interval == registered["audit_checkpoints"].interval == 3600
    assert registered["expire_exports"].interval == registered["schedule_exports"].interval == 3600
    for kind, job in registered.items():
        assert job.func is jobs.run and job.queue_name == rq_queue.name
        assert kind in jobs.PERIODIC


@pytest.mark.django_db(transaction=True)
def test_periodic_jobs_through_the_runner_create_one_sweep_per_tenant_and_day(acme, globex, rq_queue):
    assert jobs.run("reap") == {}
    assert len(jobs.run("schedule_sweeps")) == 2
    assert jobs.run("schedule_sweeps") == []
    assert SweepRun.objects.filter(trigger="schedule").count() == 2
    assert rq_queue.count == 2, "each run went to the queue for a worker"
