"""The README's first command runs on SQLite with jobs inline: requests and sweeps must work there
too (the suite itself runs on PostgreSQL, so this runs the app in a subprocess on SQLite)."""

import os
import subprocess
import sys
import textwrap

from tests.workers import ROOT

SCRIPT = textwrap.dedent(
    """
    import io
    from datetime import timedelta
    from django.core.management import call_command
    from django.utils import timezone
    from accounts.actors import operator, user_actor
    from accounts.models import Role, User
    from accounts.services import add_member, create_tenant
    from artifacts.models import Artifact, ManagementRequest
    from artifacts.services import create_management_request, store_artifact
    from config import jobs
    from interactions.services import create_interaction
    from policies.models import SweepRun

    actor = operator("sqlite test")
    tenant = create_tenant("Dev", "dev", actor=actor)
    user = User.objects.create_user("dev-admin")
    admin_role = Role.objects.get(tenant=tenant, name="Administrator")
    add_member(tenant.pk, username="dev-admin", role_id=admin_role.pk, actor=actor)
    calls = [
        create_interaction(
            tenant.pk, actor, channel="voice", direction="outbound", origin="dialer", started_at=timezone.now()
        )[0]
        for _ in range(2)
    ]
    for call in calls:
        store_artifact(
            call.pk, actor=actor, artifact_type="audio_recording", audio_recording_type="conference_customer",
            content_key="callRecording", filename="call.wav", stream=io.BytesIO(b"RIFF" * 100),
            created_at=timezone.now() - timedelta(days=40),
        )
    req = create_management_request(
        tenant.pk, user_actor(user), request_type="add_lock", artifact_type="any",
        interaction_ids=str(calls[0].guid), confirmed=True,
    )
    assert ManagementRequest.objects.get(pk=req.pk).status == "complete", ManagementRequest.objects.get(pk=req.pk)
    call_command("apply_lifecycle_policies", "--tenant", "dev")
    run = SweepRun.objects.get()
    assert (run.status, run.deleted, run.skipped_locked) == ("complete", 1, 1), vars(run)
    assert Artifact.objects.get(interaction=calls[0]).state == "stored"
    assert Artifact.objects.get(interaction=calls[1]).state == "deleted"

    # Reaping without advisory locks: by heartbeat age. A running job with a fresh heartbeat stays.
    running = SweepRun.objects.create(
        tenant=tenant, trigger="page", created_by="dev-admin", status="in_progress", attempts=1,
        started_at=timezone.now(), heartbeat_at=timezone.now(), **user_actor(user).ref(),
    )
    assert jobs.reap() == {}, "a sweep whose worker beats is not lost"
    assert SweepRun.objects.get(pk=running.pk).status == "in_progress"
    SweepRun.objects.filter(pk=running.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert jobs.reap() == {"lifecycle_sweep": [running.pk]}
    assert "worker lost" in SweepRun.objects.get(pk=running.pk).error_message

    # The audit trail is chained on SQLite too (one Python pass per append), verifies, is signed,
    # and a filtered bundle verifies with the offline verifier.
    import tempfile
    from accounts import verify_bundle
    from accounts.checkpoints import take_checkpoint
    from accounts.models import AuditEvent
    from evidence.export import build_bundle
    seqs = list(AuditEvent.objects.filter(tenant=tenant).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) > 10, seqs
    checkpoint, created, result = take_checkpoint(tenant)
    assert created and result.ok and checkpoint.seq == len(seqs), result.line
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    assert out.getvalue().startswith("OK tenant dev: "), out.getvalue()
    bundle, name, manifest = build_bundle(tenant, AuditEvent.objects.filter(kind="artifact_deleted"), {}, "dev")
    with tempfile.NamedTemporaryFile(suffix=".zip") as copy:
        copy.write(bundle.read())
        copy.flush()
        assert verify_bundle.verify(copy.name).startswith("OK tenant dev: "), manifest
    print("SQLITE-OK")
    """
)


def test_requests_and_sweeps_work_on_sqlite_with_inline_jobs(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": f"sqlite:///{tmp_path}/dev.sqlite3",
        "DATA_DIR": str(tmp_path),
        "REDIS_URL": "",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": os.environ["SECRET_KEY"],  # this run's (config/test_settings.py)
        "AUDIT_SIGNING_KEY": os.environ["AUDIT_SIGNING_KEY"],
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=300)
    done = subprocess.run(
        [*manage, "shell", "-v", "0", "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert "SQLITE-OK" in done.stdout, done.stdout + done.stderr
