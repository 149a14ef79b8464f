"""Configuration > Audit Trail: permissions, filters and keyset pages, the chain status, a checkpoint
on demand, the CSV export (formulas neutralised) and the verifiable bundle, verified by its own
offline script (standard library + cryptography), which finds what was altered."""

import ast
import csv
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.urls import reverse

from accounts import audit
from accounts.actors import operator
from accounts.models import AuditEvent
from accounts.permissions import ADMINISTRATOR, COMPLIANCE_OFFICER
from tests.factories import InteractionFactory
from tests.matrix import assert_role_matrix, client_for

pytestmark = pytest.mark.django_db

ACTOR = operator("tests")
Kind = AuditEvent.Kind


def url(name, slug="acme"):
    return reverse(name, args=[slug])


@pytest.mark.parametrize("name", ["audit-trail", "audit-export-csv", "audit-export-bundle"])
def test_only_compliance_officers_and_administrators_see_and_export_the_trail(acme, name):
    assert_role_matrix(url(name), acme, allowed={COMPLIANCE_OFFICER, ADMINISTRATOR})


def test_only_they_may_sign_a_checkpoint(acme):
    assert_role_matrix(url("audit-checkpoint"), acme, {COMPLIANCE_OFFICER, ADMINISTRATOR}, method="post", ok_status=302)


def test_the_menu_links_the_page_for_those_who_may_open_it(acme, member):
    page = client_for(member(acme, COMPLIANCE_OFFICER)).get(url("audit-trail")).content.decode()
    assert 'href="/t/acme/configuration/audit/"' in page
    other = client_for(member(acme, "Supervisor")).get(reverse("interaction-list", args=["acme"])).content.decode()
    assert "/configuration/audit/" not in other


def test_filters_keyset_pages_and_chain_status(acme, member):
    call = InteractionFactory(tenant=acme)
    for n in range(60):
        audit.record(acme.pk, Kind.ARTIFACT_VIEWED, ACTOR, interaction_guid=call.guid if n % 2 else None, n=n)
    client = client_for(member(acme, COMPLIANCE_OFFICER))
    first = client.get(url("audit-trail"), {"kind": "artifact_viewed"})
    events = first.context["events"]
    assert len(events) == 50 and [e.seq for e in events] == sorted((e.seq for e in events), reverse=True)
    second = client.get(url("audit-trail"), {"kind": "artifact_viewed", "before": first.context["next_before"]})
    assert len(second.context["events"]) == 10 and second.context["next_before"] is None
    assert {e.kind for e in second.context["events"]} == {"artifact_viewed"}
    mine = client.get(url("audit-trail"), {"interaction": str(call.guid), "source": "command", "actor": "tests"})
    assert len(mine.context["events"]) == 30
    assert client.get(url("audit-trail"), {"interaction": "nope"}).context["form"].errors["interaction"]
    # Status: a checkpoint on demand shows, with the key's fingerprint.
    assert client.post(url("audit-checkpoint")).status_code == 302
    page = client.get(url("audit-trail"))
    checkpoint = page.context["last_checkpoint"]
    assert checkpoint.seq == page.context["head"].seq and page.context["last_verification"].ok
    assert page.context["fingerprint"] in page.content.decode() and "BEGIN PUBLIC KEY" in page.content.decode()


def test_the_csv_export_neutralises_formulas_and_is_audited(acme, member):
    audit.record(acme.pk, Kind.TENANT_CHANGED, ACTOR, reason='=HYPERLINK("http://evil","x")', note="+1 555")
    client = client_for(member(acme, ADMINISTRATOR, username="auditor"))
    response = client.get(url("audit-export-csv"), {"kind": "tenant_changed"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][0] == "Sequence" and len(rows) >= 2
    reasons = [row[11] for row in rows[1:]]
    assert '\'=HYPERLINK("http://evil","x")' in reasons
    assert all(not cell or cell[0] not in "=+-@" for row in rows for cell in row)
    exported = AuditEvent.objects.filter(tenant=acme, kind=Kind.AUDIT_EXPORTED).get()
    assert exported.actor_label == "auditor" and exported.details == {
        "format": "csv",
        "filters": {"kind": "tenant_changed"},
    }


def bundle_of(client, **filters):
    response = client.get(url("audit-export-bundle"), filters)
    assert response.status_code == 200, response
    assert response["Content-Disposition"].startswith("attachment")
    return b"".join(response.streaming_content)


def run_verifier(tmp_path, bundle, *args):
    """The bundle's own verify_bundle.py, alone in a folder, in isolated mode (no project on the path)."""
    folder = tmp_path / "auditor"
    folder.mkdir(exist_ok=True)
    (folder / "bundle.zip").write_bytes(bundle)
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        (folder / "verify_bundle.py").write_bytes(archive.read("verify_bundle.py"))
    done = subprocess.run(
        [sys.executable, "-I", "verify_bundle.py", "bundle.zip", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, done.stdout.strip()


def test_the_offline_verifier_needs_only_the_standard_library_and_cryptography():
    from accounts import verify_bundle

    tree = ast.parse(Path(verify_bundle.__file__).read_text())
    modules = {
        (alias.name if isinstance(node, ast.Import) else node.module).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert modules - set(sys.stdlib_module_names) == {"cryptography"}


def rewrite(bundle, name, change):
    """The bundle with member ``name``'s text replaced by ``change(text)``."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(bundle)) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            target.writestr(item, change(data.decode()).encode() if item.filename == name else data)
    return out.getvalue()


def test_a_date_range_bundle_verifies_offline_and_alterations_are_found(acme, member, tmp_path):
    call = InteractionFactory(tenant=acme)
    for n in range(12):
        audit.record(acme.pk, Kind.ARTIFACT_VIEWED, ACTOR, interaction_guid=call.guid, n=n, ratio=n / 7, text="é\n")
    client = client_for(member(acme, COMPLIANCE_OFFICER))
    bundle = bundle_of(client, start="2000-01-01", end="2100-01-01")
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("manifest.json"))
        lines = archive.read("events.jsonl").decode().splitlines()
    assert names == {"manifest.json", "events.jsonl", "checkpoints.jsonl", "public_keys.pem", "README.md",
                     "verify_bundle.py"}  # fmt: skip
    assert manifest["starts_after"]["seq"] == 0 and manifest["events_in_full"] == len(lines) == manifest["last_seq"]
    fingerprint = client.get(url("audit-trail")).context["fingerprint"]
    code, out = run_verifier(tmp_path, bundle, "--public-key-fingerprint", fingerprint)
    assert code == 0 and out.startswith("OK tenant acme: events 1-"), out
    assert AuditEvent.objects.filter(tenant=acme, kind=Kind.AUDIT_EXPORTED, details__format="bundle").exists()

    edited = rewrite(bundle, "events.jsonl", lambda text: text.replace('"n": 5', '"n": 6', 1))
    assert run_verifier(tmp_path, edited)[1].startswith("BROKEN row edited at seq ")
    dropped = rewrite(
        bundle, "events.jsonl", lambda text: "\n".join(t for i, t in enumerate(text.splitlines()) if i != 3)
    )
    assert run_verifier(tmp_path, dropped)[1].startswith("BROKEN row removed or inserted at seq 5")
    cut = rewrite(bundle, "events.jsonl", lambda text: "\n".join(text.splitlines()[:-2]))
    assert run_verifier(tmp_path, cut)[1].startswith("BROKEN tail truncated")
    resigned = rewrite(bundle, "checkpoints.jsonl", lambda text: text.replace('"seq": ', '"seq": 1', 1))
    assert run_verifier(tmp_path, resigned)[1].startswith("BROKEN bad signature")
    assert run_verifier(tmp_path, bundle, "--public-key-fingerprint", "0" * 64)[0] == 1


def test_a_filtered_bundle_discloses_only_the_matches_yet_verifies_end_to_end(acme, member, tmp_path):
    client = client_for(member(acme, COMPLIANCE_OFFICER))
    audit.record(acme.pk, Kind.ARTIFACT_VIEWED, ACTOR)
    assert client.post(url("audit-checkpoint")).status_code == 302
    call, other = InteractionFactory(tenant=acme), InteractionFactory(tenant=acme)
    for n in range(6):
        audit.record(acme.pk, Kind.ARTIFACT_VIEWED, ACTOR, interaction_guid=(call if n % 2 else other).guid, secret=n)
    bundle = bundle_of(client, interaction=str(call.guid))
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        events = [json.loads(line) for line in archive.read("events.jsonl").decode().splitlines()]
    assert manifest["starts_after"]["seq"] > 0, "the range starts after the checkpoint before the first match"
    full = [e for e in events if "kind" in e]
    assert {e["interaction_guid"] for e in full} == {str(call.guid)}
    assert all(set(e) == {"seq", "prev_hash", "hash", "digest"} for e in events if "kind" not in e)
    assert run_verifier(tmp_path, bundle)[0] == 0


def test_no_match_is_a_message_not_an_empty_bundle(acme, member):
    client = client_for(member(acme, COMPLIANCE_OFFICER))
    response = client.get(url("audit-export-bundle"), {"kind": "password_changed"}, follow=True)
    assert response.redirect_chain and "No audit event matches" in response.content.decode()
