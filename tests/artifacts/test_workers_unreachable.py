"""Redis down: the row is the truth. A request (or a sweep) saved while the background workers
cannot be reached stays Queued, the user is told it waits for them (no error, no 500), and the
reaper sends it again once they are back, where it runs to the end."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from rq import SimpleWorker

from artifacts.models import ManagementRequest
from config import jobs
from policies.models import SweepRun
from tests.factories import ArtifactFactory, InteractionFactory
from tests.matrix import client_for

pytestmark = pytest.mark.django_db(transaction=True)  # jobs are sent when the transaction commits

NOWHERE = "redis://127.0.0.1:1/0"  # nothing listens there: connection refused


def test_a_request_saved_while_redis_is_down_waits_and_runs_when_it_is_back(acme, member, rq_queue, settings):
    officer = member(acme, "Compliance Officer")
    call = InteractionFactory(tenant=acme)
    ArtifactFactory(interaction=call)
    redis_url, settings.REDIS_URL = settings.REDIS_URL, NOWHERE
    client = client_for(officer)
    response = client.post(
        reverse("management-request-create", args=["acme"]),
        {"request_type": "add_lock", "artifact_type": "any", "interaction_ids": str(call.guid),
         "confirm_add_lock": "on"},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:3000]
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("It is queued — the background workers are unreachable" in t for t in texts), texts
    req = ManagementRequest.objects.get()
    assert (req.status, req.rq_job_id) == (ManagementRequest.Status.QUEUED, "")
    page = client.get(response["Location"]).content.decode()
    assert "Queued — the background workers are unreachable; it will start when they are back" in page

    # Still down: the reaper cannot send it either, and nothing breaks.
    assert jobs.requeue_orphans(older_than=0) == {}
    settings.REDIS_URL = redis_url  # back
    assert jobs.requeue_orphans(older_than=0) == {"management_request": [req.pk]}
    assert rq_queue.count == 1
    SimpleWorker([rq_queue], connection=rq_queue.connection).work(burst=True)
    req.refresh_from_db()
    assert req.status == ManagementRequest.Status.COMPLETE, req.error_message
    assert jobs.requeue_orphans(older_than=0) == {}, "a finished row is not sent again"


def test_run_the_sweep_now_while_redis_is_down(acme, member, rq_queue, settings):
    settings.REDIS_URL = NOWHERE
    client = client_for(member(acme, "Compliance Officer"))
    response = client.post(reverse("policy-sweep", args=["acme"]), {"confirm": "yes"}, follow=True)
    assert response.status_code == 200
    assert "the background workers are unreachable; it will start when they are back" in response.content.decode()
    assert SweepRun.objects.get().status == SweepRun.Status.QUEUED


def test_a_request_whose_worker_died_before_claiming_it_is_sent_again(acme, member, rq_queue, settings):
    """Found by the soak (bench/soak.py): a worker took the request's job from the queue and was
    killed before it claimed the row. RQ kept the job "started", so the reaper never sent it again
    and the request stayed Queued for an hour (RQ's job timeout). A started job without a heartbeat
    is lost: the reaper sends it again."""
    import uuid

    from rq import Queue

    from tests.factories import management_request
    from tests.workers import kill_worker, rows_held, start_worker, wait_for, worker_env

    # A queue of this test's own: no worker another test left behind can take the job first.
    settings.RQ_QUEUE = f"{rq_queue.name}-{uuid.uuid4().hex[:6]}"
    queue = Queue(settings.RQ_QUEUE, connection=rq_queue.connection)
    officer = member(acme, "Compliance Officer")
    call = InteractionFactory(tenant=acme)
    ArtifactFactory(interaction=call)
    req = management_request(acme, officer, "add_lock", [call])
    assert queue.count == 1, "the request's job is in the queue"
    with rows_held(ManagementRequest.objects.filter(pk=req.pk)):  # the worker waits to claim it
        worker = start_worker(worker_env(RQ_QUEUE=settings.RQ_QUEUE))
        try:
            # A worker process starting on a loaded machine can take a while.
            wait_for(lambda: queue.started_job_registry.count == 1, timeout=120, message="a worker to take the job")
        finally:
            kill_worker(worker)
    req.refresh_from_db()
    # Queued, and RQ still calls its job "started" — unless a reaper of the deployment (the suite
    # may have one running) already sent it again and a worker ran it: the same rescue.
    if req.status == ManagementRequest.Status.QUEUED:
        assert jobs.requeue_orphans(older_than=0) == {"management_request": [req.pk]}
        SimpleWorker([queue], connection=queue.connection).work(burst=True)
        req.refresh_from_db()
    assert req.status == ManagementRequest.Status.COMPLETE, req.error_message
    queue.empty()
