"""``manage.py export_artifacts``: the zip written to a file or stdout is a verified bundle of the
selection (the list's filters, GUIDs or a request); bad input names the option (exit status 1 when
run as a program) and leaves neither a row nor a file."""

import io
import subprocess
import sys
import zipfile

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import AuditEvent
from accounts.permissions import VIEWER
from exports.models import Export
from exports.verify import verify_bundle
from tests.factories import management_request

pytestmark = pytest.mark.django_db


def test_filters_to_a_file(acme, content, tmp_path):
    out = tmp_path / "dialer.zip"
    err = io.StringIO()
    call_command("export_artifacts", "--tenant", "acme", "--direction", "outbound", "--out", str(out), stderr=err)
    manifest = verify_bundle(out)
    assert manifest["artifact_count"] == 3 and manifest["selection"]["filters"] == {"direction": "outbound"}
    export = Export.objects.get()
    assert export.status == Export.Status.COMPLETE and export.destination == "output" and export.storage_key == ""
    assert export.size == out.stat().st_size and export.sha256 in err.getvalue()
    assert not export.is_downloadable and export.expires_at is None
    created = AuditEvent.objects.get(kind=AuditEvent.Kind.EXPORT_CREATED)
    assert created.source == "command" and created.actor_label == "export_artifacts"
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.EXPORT_COMPLETED).count() == 1


def test_guids_and_requests_to_stdout(acme, officer, content, monkeypatch):
    buffer = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(buffer))
    chat = content["chat"]
    call_command("export_artifacts", "--tenant", "acme", "--interactions", str(chat.guid), "--out", "-")
    sys.stdout.flush()
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        assert len([n for n in archive.namelist() if n.startswith("content/")]) == 1
    req = management_request(acme, officer, "add_lock", content["calls"], process=True)
    buffer.seek(0)
    buffer.truncate()
    call_command("export_artifacts", "--tenant", "acme", "--request", str(req.pk), "--out", "-")
    sys.stdout.flush()
    assert verify_bundle(io.BytesIO(buffer.getvalue()))["artifact_count"] == 3


@pytest.mark.parametrize(
    "args, message",
    [
        (["--tenant", "nope"], r"--tenant: no tenant with the slug 'nope'"),
        (["--from", "yesterday"], r"--from: Enter a valid date"),
        (["--channel", "fax"], r"--channel: Select a valid choice"),
        (["--interactions", "xyz"], r"--interactions: Interaction Ids: not a valid interaction id: xyz"),
        (["--request", "x1"], r"--request: 'x1' is not a request id"),
        (["--request", "99999"], r"--request: no Artifacts Management Request 99999"),
        (["--from", "2001-01-01", "--to", "2001-01-02"], r"selection: no interaction is selected"),
        (["--out", "/no/such/folder/x.zip"], r"--out: the folder /no/such/folder does not exist"),
        (["--user", "ghost"], r"--user: no user named 'ghost'"),
    ],
)
def test_bad_input_names_the_option_and_leaves_nothing(acme, content, tmp_path, args, message):
    folder = tmp_path / "out"
    folder.mkdir()
    argv = ["export_artifacts", "--tenant", "acme", "--out", str(folder / "x.zip"), *args]
    with pytest.raises(CommandError, match=message):
        call_command(*argv)
    assert not Export.objects.exists() and not list(folder.iterdir())


def test_a_user_without_the_permission_is_refused(acme, content, member, tmp_path):
    viewer = member(acme, VIEWER)
    with pytest.raises(CommandError, match="EXPORT_CONTENT"):
        call_command("export_artifacts", "--tenant", "acme", "--user", viewer.username, "--out", str(tmp_path / "x"))
    assert not Export.objects.exists()


def test_a_failed_export_leaves_no_file(acme, content, tmp_path):
    from artifacts.models import Artifact

    Artifact.objects.filter(pk=content["artifacts"][0].pk).update(sha256="0" * 64)
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(CommandError, match="failed, nothing written"):
        call_command("export_artifacts", "--tenant", "acme", "--out", str(folder / "x.zip"))
    assert not list(folder.iterdir())
    assert Export.objects.get().status == Export.Status.ERROR
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.EXPORT_FAILED).count() == 1


def test_bad_input_exits_with_status_1():
    answer = subprocess.run(
        [sys.executable, "manage.py", "export_artifacts", "--tenant", "acme"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert answer.returncode != 0 and "--out" in answer.stderr
