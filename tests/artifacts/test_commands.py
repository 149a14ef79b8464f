"""Operator commands: ``artifacts_requests create|list|show|retry|cancel|reap`` and ``locks``.

They go through the same validator, permissions and services as the page: bad input is a
``CommandError`` naming the option, with nothing saved.
"""

import datetime as dt
import io
import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from accounts.models import AuditEvent
from artifacts import processing
from artifacts.models import Lock, ManagementRequest
from artifacts.validation import CONFIRMATIONS
from core.vocabulary import ArtifactType, AudioRecordingType
from tests.factories import ArtifactFactory, InteractionFactory, UserFactory, fail_job, process_request

pytestmark = pytest.mark.django_db
Status = ManagementRequest.Status


def run(*args, **kwargs):
    """Call a command; return its standard output."""
    out = io.StringIO()
    call_command(*args, stdout=out, **kwargs)
    return out.getvalue()


def create(tenant, user, request_type, interactions, *extra, artifact_type="any", **kwargs):
    ids = ",".join(str(i.guid) for i in interactions)
    return run(
        "artifacts_requests", "create", "--tenant", tenant.slug, "--type", request_type,
        "--artifact-type", artifact_type, "--ids", ids, "--user", user.username, *extra, **kwargs,
    )  # fmt: skip


@pytest.fixture
def officer(acme, member):
    return member(acme, "Compliance Officer", username="officer")


@pytest.fixture
def calls(acme):
    """Two interactions of acme, each with a conference-customer recording and an email."""
    made = InteractionFactory.create_batch(2, tenant=acme)
    for call in made:
        ArtifactFactory(interaction=call)
        ArtifactFactory(
            interaction=call, artifact_type=ArtifactType.EMAIL, content_key=str(uuid.uuid4()), filename="m.eml"
        )
    return made


def future(days=10):
    return (timezone.now() + dt.timedelta(days=days)).date()


# --- create --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("given", "stored"),
    [("add_lock", "add_lock"), ("Remove Lock", "remove_lock"), ("DELETE", "delete"), ("add-lock", "add_lock")],
)
def test_create_each_type_records_the_confirmation(acme, officer, calls, given, stored):
    out = create(acme, officer, given, calls, "--description", "Case 42")
    req = ManagementRequest.objects.get()
    assert (req.request_type, req.artifact_type, req.description) == (stored, "any", "Case 42")
    assert req.interaction_count == 2 and req.items.count() == 2
    assert req.created_by_user == officer and req.status == Status.QUEUED
    assert req.confirmation == CONFIRMATIONS[stored]
    assert CONFIRMATIONS[stored] in out
    assert f"Created request {req.pk}" in out and "status Queued" in out
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.REQUEST_CREATED, request_id=req.pk).exists()


def test_create_with_labels_audio_type_expiry_and_remove_locks(acme, officer, calls):
    create(
        acme, officer, "Add Lock", calls, "--audio-type", "Conference Customer",
        "--expires", f"{future():%Y-%m-%d}", artifact_type="Audio Recording",
    )  # fmt: skip
    req = ManagementRequest.objects.get()
    assert (req.artifact_type, req.audio_recording_type) == ("audio_recording", "conference_customer")
    assert req.lock_expires_on == future() and req.lock_expires_at is not None
    create(acme, officer, "delete", calls[:1], "--remove-locks", artifact_type="QM Screen Recording")
    delete = ManagementRequest.objects.get(request_type="delete")
    assert delete.remove_locks and delete.artifact_type == ArtifactType.QM_SCREEN_RECORDING


def test_create_reads_ids_from_a_file_and_from_stdin(acme, officer, calls, tmp_path):
    path = tmp_path / "ids.txt"
    path.write_text(f"{calls[0].guid}\n{calls[0].guid}\n")
    run(*_base(acme, officer), "--ids-file", str(path))
    run(*_base(acme, officer), "--ids-file", "-", stdin=io.StringIO(f"{calls[1].guid}, {calls[0].guid}\n"))
    first, second = ManagementRequest.objects.order_by("id")
    assert first.interaction_count == 1 and second.interaction_count == 2


def _base(tenant, user, request_type="add_lock"):
    return (
        "artifacts_requests", "create", "--tenant", tenant.slug, "--type", request_type,
        "--artifact-type", "any", "--user", user.username,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ids", "nope"], r"--ids: Interaction Ids: not a valid interaction id: nope"),
        (["--ids", str(uuid.uuid4())], r"--ids: Interaction Ids: not an interaction of Acme"),
        (["--ids", " ".join(str(uuid.uuid4()) for _ in range(201))], r"--ids: .*201 distinct ids.*at most 200"),
        ([], r"--ids: Interaction Ids: enter at least one"),
        (["--ids", "<call>", "--type", "frobnicate"], r"--type: 'frobnicate' is not one of"),
        (["--ids", "<call>", "--artifact-type", "tape"], r"--artifact-type: 'tape' is not one of"),
        (["--ids", "<call>", "--artifact-type", "audio_recording"], r"--audio-type: Audio Recording Type: required"),
        (["--ids", "<call>", "--artifact-type", "email", "--audio-type", "ivr_snippet"], r"--audio-type: .*leave it"),
        (["--ids", "<call>", "--audio-type", "loud"], r"--audio-type: 'loud' is not one of"),
        (["--ids", "<call>", "--expires", "tomorrow"], r"--expires: 'tomorrow' is not a date; use YYYY-MM-DD"),
        (["--ids", "<call>", "--expires", "2030-02-30"], r"--expires: '2030-02-30' is not a date"),
        (["--ids", "<call>", "--expires", "2001-01-01"], r"--expires: Lock Expires On: must be a future date"),
        (["--ids", "<call>", "--type", "delete", "--expires", "<future>"], r"--expires: Lock Expires: only applies"),
        (["--ids", "<call>", "--remove-locks"], r"--remove-locks: .*only applies to Delete"),
        (["--ids", "<call>", "--description", "x" * 501], r"--description: Description: at most 500"),
        (["--ids", "<call>", "--ids-file", "/nonexistent/ids.txt"], r"--ids-file: cannot read"),
        (["--ids", "<call>", "--tenant", "initech"], r"--tenant: no tenant with the slug 'initech'"),
        (["--ids", "<call>", "--user", "ghost"], r"--user: no user named 'ghost'"),
        (["--ids", "<call>", "--user", "<outsider>"], r"--user: 'outsider' is not a member of the tenant 'acme'"),
    ],
)
def test_create_bad_input_names_the_option_and_saves_nothing(acme, globex, officer, calls, member, args, message):
    member(globex, "Administrator", username="outsider")
    placeholders = {"<call>": str(calls[0].guid), "<future>": f"{future():%Y-%m-%d}", "<outsider>": "outsider"}
    args = [placeholders.get(a, a) for a in args]
    audit_before = AuditEvent.objects.count()
    with pytest.raises(CommandError, match=message):
        run(*_base(acme, officer), *args)
    assert not ManagementRequest.objects.exists()
    assert AuditEvent.objects.count() == audit_before


def test_an_interaction_of_another_tenant_is_refused(acme, globex, officer):
    theirs = InteractionFactory(tenant=globex)
    with pytest.raises(CommandError, match=rf"--ids: Interaction Ids: not an interaction of Acme: {theirs.guid}"):
        create(acme, officer, "add_lock", [theirs])
    assert not ManagementRequest.objects.exists()


def test_the_locked_interactions_limit_is_named(acme, officer, calls):
    acme.locked_interactions_limit = 1
    acme.save()
    with pytest.raises(CommandError, match=r"--ids: .*the limit for Acme is 1 locked interactions"):
        create(acme, officer, "add_lock", calls)
    assert not ManagementRequest.objects.exists()


@pytest.mark.parametrize(
    ("role", "request_type", "extra", "missing"),
    [
        ("Supervisor", "delete", [], "ARTIFACTS_MANAGEMENT_DELETE_REQUESTS"),
        ("Supervisor", "remove_lock", [], "ARTIFACTS_MANAGEMENT_REMOVE_LOCK_REQUESTS"),
        ("Viewer", "add_lock", [], "ARTIFACTS_MANAGEMENT_REQUESTS_CREATE"),
    ],
)
def test_permissions_are_those_of_the_page(acme, member, calls, role, request_type, extra, missing):
    user = member(acme, role)
    with pytest.raises(CommandError, match=rf"--user: {user.username} on acme: You may not .*{missing}"):
        create(acme, user, request_type, calls, *extra)
    assert not ManagementRequest.objects.exists()


def test_supervisor_may_add_locks_and_a_superuser_needs_no_membership(acme, member, calls):
    create(acme, member(acme, "Supervisor"), "add_lock", calls)
    create(acme, UserFactory(username="root", is_superuser=True), "delete", calls)
    assert ManagementRequest.objects.count() == 2


def test_wait_gives_up_with_a_message_when_no_worker_runs_it(acme, officer, calls):
    with pytest.raises(CommandError, match=r"still Queued after 0 s .*rqworker"):
        create(acme, officer, "add_lock", calls, "--wait", "--wait-timeout", "0")


@pytest.mark.django_db(transaction=True)
def test_inline_jobs_finish_before_the_command_returns(acme, member, settings):
    settings.JOBS_INLINE = True
    officer = member(acme, "Compliance Officer")
    call = InteractionFactory(tenant=acme)
    ArtifactFactory.create_batch(2, interaction=call)
    out = create(acme, officer, "add_lock", [call], "--wait")
    assert "status Complete" in out and "2 matched, 2 locked, 0 unlocked, 0 deleted" in out
    assert Lock.objects.active().filter(interaction=call).exists()


# --- list / show ---------------------------------------------------------------------------
def test_list_and_show_after_processing(acme, globex, officer, calls):
    create(acme, officer, "add_lock", calls, "--description", "Litigation hold 7")
    lock_req = ManagementRequest.objects.get()
    process_request(lock_req.pk)
    create(acme, officer, "delete", calls[:1])
    delete_req = ManagementRequest.objects.latest("id")
    process_request(delete_req.pk)
    InteractionFactory(tenant=globex)

    listing = run("artifacts_requests", "list", "--tenant", "acme")
    header, _rule, first, second, footer = listing.strip().splitlines()
    assert header.split("  ")[0] == "Request Id" and "Audio Recording Type" in header
    assert first.split()[:1] == [str(delete_req.pk)] and "Delete" in first and "Complete" in first
    assert "Add Lock" in second and "Litigation hold 7" in second and "Any" in second
    assert "2 of 2 request(s) of acme" in footer
    only_lock = run("artifacts_requests", "list", "--tenant", "acme", "--type", "Add Lock", "--status", "complete")
    assert "Litigation hold 7" in only_lock and "Delete" not in only_lock
    assert "1 of 2" in run("artifacts_requests", "list", "--tenant", "acme", "--limit", "1")
    assert "0 of 0" in run("artifacts_requests", "list", "--tenant", "globex")

    shown = run("artifacts_requests", "show", str(lock_req.pk))
    for text in ("Request Type:", "Add Lock", "Creator:", "officer", CONFIRMATIONS["add_lock"], "Status:"):
        assert text in shown
    assert "2 of 2 interaction(s) finished" in shown
    for call in calls:
        assert str(call.guid) in shown
    totals = next(line for line in shown.splitlines() if "Totals" in line).split()
    assert totals[1:] == ["4", "4", "0", "0", "0"]  # matched, locked, unlocked, deleted, skipped

    deleted = run("artifacts_requests", "show", str(delete_req.pk))
    totals = next(line for line in deleted.splitlines() if "Totals" in line).split()
    assert totals[1:] == ["2", "0", "0", "0", "2"]  # both artifacts skipped because locked


def test_show_and_list_refuse_unknown_ids_and_options(acme):
    with pytest.raises(CommandError, match=r"No Artifacts Management Request with id 999"):
        run("artifacts_requests", "show", "999")
    with pytest.raises(CommandError, match=r"--status: 'done' is not one of"):
        run("artifacts_requests", "list", "--tenant", "acme", "--status", "done")
    with pytest.raises(CommandError, match=r"--limit: must be a whole number from 1 to 100,000 \(got 0\)"):
        run("artifacts_requests", "list", "--tenant", "acme", "--limit", "0")


#: Integers of every size: small, around the bounds, past bigint (2**63), negative, enormous.
ANY_INTEGER = st.one_of(
    st.integers(min_value=-200_000, max_value=200_000),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.integers(min_value=1, max_value=4_000).map(lambda digits: 10**digits - 1),
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(99999999999999999999)  # the trial's "bigint out of range"
@example(2**63)
@example(-1)
@given(ANY_INTEGER)
def test_numeric_options_out_of_range_name_the_option(acme, officer, calls, number):
    """``--limit`` takes 1 to 100,000 and lists that many; ``--wait-timeout`` takes 0 to 604,800 and
    is checked before anything is saved; a request id of any size is a request or "no such id"."""
    if 1 <= number <= 100_000:
        assert "of 0 request(s) of acme" in run(
            "artifacts_requests", "list", "--tenant", "acme", "--limit", str(number)
        )
    else:
        with pytest.raises(CommandError, match=r"^--limit: must be a whole number from 1 to 100,000 \(got "):
            run("artifacts_requests", "list", "--tenant", "acme", "--limit", str(number))
    if not 0 <= number <= 604_800:
        with pytest.raises(CommandError, match=r"^--wait-timeout: must be a whole number from 0 to 604,800"):
            create(acme, officer, "add_lock", calls, "--wait", "--wait-timeout", str(number))
        assert not ManagementRequest.objects.exists()
    for action in (["show", str(number)], ["cancel", str(number), "--user", officer.username]):
        with pytest.raises(CommandError, match=f"^No Artifacts Management Request with id {number}"):
            run("artifacts_requests", *action)


# --- retry / cancel ------------------------------------------------------------------------
def failed_request(tenant, user, request_type, interactions):
    create(tenant, user, request_type, interactions)
    req = ManagementRequest.objects.latest("id")
    fail_job(req, "storage unreachable")
    return req


def test_retry_needs_the_permissions_of_the_request_type(acme, member, officer, calls):
    req = failed_request(acme, officer, "delete", calls)
    supervisor = member(acme, "Supervisor", username="sup")
    with pytest.raises(CommandError, match=r"sup: sup may not retry .* it needs ARTIFACTS_MANAGEMENT_DELETE_REQUESTS"):
        run("artifacts_requests", "retry", str(req.pk), "--user", "sup")
    assert ManagementRequest.objects.get(pk=req.pk).status == Status.ERROR
    out = run("artifacts_requests", "retry", str(req.pk), "--user", "officer")
    assert f"Request {req.pk} queued again: 2 interaction(s) to redo" in out
    assert ManagementRequest.objects.get(pk=req.pk).status == Status.QUEUED
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.REQUEST_RETRIED, actor_user=officer).exists()
    lock_req = failed_request(acme, officer, "add_lock", calls)
    run("artifacts_requests", "retry", str(lock_req.pk), "--user", supervisor.username)
    assert ManagementRequest.objects.get(pk=lock_req.pk).status == Status.QUEUED


def test_retry_refuses_a_request_that_is_not_in_error(acme, officer, calls):
    create(acme, officer, "add_lock", calls)
    req = ManagementRequest.objects.get()
    process_request(req.pk)
    with pytest.raises(CommandError, match=r"Only a request in Error can be retried; this one is Complete"):
        run("artifacts_requests", "retry", str(req.pk), "--user", "officer")


def test_cancel_needs_create_and_a_queued_request(acme, globex, member, officer, calls):
    create(acme, officer, "delete", calls)
    req = ManagementRequest.objects.get()
    member(acme, "Viewer", username="viewer")
    member(globex, "Administrator", username="stranger")
    with pytest.raises(CommandError, match=r"viewer: viewer may not cancel .* ARTIFACTS_MANAGEMENT_REQUESTS_CREATE"):
        run("artifacts_requests", "cancel", str(req.pk), "--user", "viewer")
    with pytest.raises(CommandError, match=r"'stranger' is not a member of the tenant 'acme'"):
        run("artifacts_requests", "cancel", str(req.pk), "--user", "stranger")
    supervisor = member(acme, "Supervisor", username="sup")
    assert f"Request {req.pk} cancelled" in run("artifacts_requests", "cancel", str(req.pk), "--user", "sup")
    req.refresh_from_db()
    assert req.status == Status.CANCELLED
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.REQUEST_CANCELLED, actor_user=supervisor).exists()
    with pytest.raises(CommandError, match=r"Only a Queued request can be cancelled; this one is Cancelled"):
        run("artifacts_requests", "cancel", str(req.pk), "--user", "sup")


def test_reap_turns_lost_requests_into_retryable_errors(acme, officer, calls):
    create(acme, officer, "add_lock", calls)
    req = ManagementRequest.objects.get()
    assert "No lost requests" in run("artifacts_requests", "reap")
    ManagementRequest.objects.filter(pk=req.pk).update(status=Status.IN_PROGRESS, started_at=timezone.now())
    out = run("artifacts_requests", "reap")
    assert f"Reaped 1 request(s) whose worker was lost (now Error, retryable): {req.pk}" in out
    req.refresh_from_db()
    assert (req.status, req.retryable, req.error_message) == (Status.ERROR, True, processing.WORKER_LOST)


# --- locks ---------------------------------------------------------------------------------
def test_locks_lists_active_locks_and_all_with_their_state(acme, officer, calls):
    held, released = calls
    create(acme, officer, "add_lock", [held], "--audio-type", "conference_customer", artifact_type="audio_recording")
    create(acme, officer, "add_lock", [held], "--expires", f"{future():%Y-%m-%d}", artifact_type="email")
    create(acme, officer, "add_lock", [released], artifact_type="email")
    for req in ManagementRequest.objects.order_by("id"):
        process_request(req.pk)
    create(acme, officer, "remove_lock", [released], artifact_type="email")
    process_request(ManagementRequest.objects.latest("id").pk)
    expired = Lock.objects.filter(interaction=held, artifact_type="email")

    out = run("locks", "--tenant", "acme")
    assert str(held.guid) in out and str(released.guid) not in out
    assert f"Audio Recording · {AudioRecordingType.CONFERENCE_CUSTOMER.label}" in out and "Email" in out
    assert "2 active lock(s) on 1 interaction(s) of acme" in out
    assert "officer" in out and "never" in out

    expired.update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    out = run("locks", "--tenant", "acme")
    assert "1 active lock(s)" in out and "Email" not in out
    everything = run("locks", "--tenant", "acme", "--all")
    assert "3 lock(s) on 2 interaction(s)" in everything
    assert "expired" in everything and "released" in everything and "active" in everything
    only = run("locks", "--tenant", "acme", "--interaction", str(released.guid))
    assert only.strip() == f"No active locks on interaction {released.guid}."
    assert "released" in run("locks", "--tenant", "acme", "--interaction", str(released.guid), "--all")


def test_locks_refuses_unknown_tenant_and_interaction(acme, globex):
    theirs = InteractionFactory(tenant=globex)
    with pytest.raises(CommandError, match=r"--tenant: no tenant with the slug 'nope'"):
        run("locks", "--tenant", "nope")
    with pytest.raises(CommandError, match=r"--interaction: 'x' is not an interaction GUID"):
        run("locks", "--tenant", "acme", "--interaction", "x")
    with pytest.raises(CommandError, match=rf"--interaction: {theirs.guid} is not an interaction of the tenant"):
        run("locks", "--tenant", "acme", "--interaction", str(theirs.guid))
    assert run("locks", "--tenant", "acme").strip() == "No active locks on tenant acme."
