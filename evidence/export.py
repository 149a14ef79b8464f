"""Exports of the audit trail: CSV (every text cell neutralised against formula injection) and the
verifiable bundle (a zip an auditor verifies offline with ``verify_bundle.py``; layout in
:mod:`accounts.verify_bundle` and the README).

The bundle covers a *contiguous* stretch of the chain, anchored at both ends by signed checkpoints:
it starts after the last checkpoint before the first matching event (or at the chain's start) and
ends at the first checkpoint at or after the last matching one (one is taken at export time). Events
the filters leave out are in it as ``seq``, ``digest``, ``prev_hash`` and ``hash`` only: the chain
verifies end to end without disclosing them.
"""

import csv
import io
import json
import tempfile
import zipfile
from pathlib import Path

from django.db import connection
from django.db.models import Max, Min
from django.utils import timezone

from accounts import checkpoints as cp
from accounts import verify_bundle as v
from accounts.chain import digest_sql, uses_sql
from accounts.models import AuditCheckpoint, AuditEvent
from workspace.export import safe_row

CHUNK = 5000
CSV_HEADER = (
    "Sequence",
    "Occurred at (UTC)",
    "Kind",
    "Actor",
    "Actor kind",
    "Actor id",
    "Source",
    "Remote address",
    "Interaction",
    "Artifact",
    "Request",
    "Reason",
    "Details",
    "Hash",
)
VERIFIER = Path(v.__file__)
README = """# Holdfast audit trail export

Tenant: {slug} (id {tenant}). Exported {at} by {by}.
Events {first}-{last} of the tenant's hash chain; {full} of them in full (those the filters matched:
{filters}), the others as their digests only.

## Verify it offline

    python3 -m pip install cryptography
    python3 verify_bundle.py {name} --public-key-fingerprint {fingerprint}

`OK ...` and exit status 0: every event's hash is recomputed from its content, every link and
sequence number is checked, and the stretch starts after and ends at checkpoints signed with the
Ed25519 key whose SHA-256 fingerprint is above. Compare that fingerprint with one you obtained
independently (the Audit Trail page shows it; so does `manage.py audit_checkpoint --public-key`).
`BROKEN <kind> at seq N` names the first place where the bundle was altered.

## Layout

- `manifest.json`: tenant, range (`first_seq`, `last_seq`), filters, `starts_after` / `ends_at` (the
  signed checkpoints the range is anchored to; seq 0 is the chain's start).
- `events.jsonl`: one event per line in seq order. Full events carry every field the hash covers;
  the others carry `seq`, `digest`, `prev_hash` and `hash`.
- `checkpoints.jsonl`: the signed checkpoints in the range; `public_keys.pem`: the keys that signed them.
- `verify_bundle.py`: the verifier (Python 3.11+, standard library and `cryptography`); its docstring
  defines the canonical serialization, the hashes and the signed message.
"""


# --- CSV --------------------------------------------------------------------------------------------
class _Echo:
    def write(self, value):
        return value


def csv_lines(rows):
    """The header, then one neutralised CSV line per event of ``rows`` (in seq order)."""
    writer = csv.writer(_Echo())
    yield writer.writerow(safe_row(CSV_HEADER))
    for event in rows.order_by("seq").iterator(chunk_size=CHUNK):
        yield writer.writerow(
            safe_row(
                (
                    event.seq,
                    v.utc_text(event.occurred_at),
                    event.get_kind_display(),
                    event.actor_label,
                    event.actor_kind,
                    event.actor_key,
                    event.source,
                    event.remote_addr or "",
                    str(event.interaction_guid or ""),
                    event.artifact_id if event.artifact_id is not None else "",
                    event.request_id if event.request_id is not None else "",
                    event.reason,
                    json.dumps(event.details, sort_keys=True, ensure_ascii=False),
                    event.hash,
                )
            )
        )


# --- the bundle's rows --------------------------------------------------------------------------
_PG_FIELDS = (
    "e.tenant_id",
    "to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
    "e.kind",
    "e.actor_user_id",
    "e.actor_label",
    "e.actor_kind",
    "e.actor_key",
    "e.source",
    "host(e.remote_addr)",
    "e.interaction_guid::text",
    "e.artifact_id",
    "e.request_id",
    "e.reason",
    "e.details::text",
)


def _pg_lines(tenant_id, first, last, matched):
    """JSON lines of the events ``first..last``, full where ``matched`` (ids, SQL + params) selects them."""
    matched_sql, matched_params = matched
    sql = f"""
        SELECT e.seq, e.prev_hash, e.hash, e.id IN ({matched_sql}), encode({digest_sql("e")}, 'hex'),
               {", ".join(_PG_FIELDS)}
        FROM {AuditEvent._meta.db_table} e
        WHERE e.tenant_id = %s AND e.seq > %s AND e.seq <= %s ORDER BY e.seq LIMIT {CHUNK}
    """
    after = first - 1
    with connection.cursor() as cursor:
        while True:
            cursor.execute(sql, [*matched_params, tenant_id, after, last])
            page = cursor.fetchall()
            for seq, prev_hash, row_hash, full, digest, *fields in page:
                head = {"seq": seq, "prev_hash": prev_hash, "hash": row_hash}
                if not full:
                    yield json.dumps({**head, "digest": digest}), False
                    continue
                event = dict(zip(v.FIELDS[:-1], fields[:-1], strict=True))
                # details as the database prints them (already the canonical text, exact numbers).
                yield json.dumps({**head, **event})[:-1] + ', "details": ' + fields[-1] + "}", True
            if len(page) < CHUNK:
                return
            after = page[-1][0]


def _python_lines(tenant_id, first, last, matched_ids):
    rows = AuditEvent.objects.filter(tenant_id=tenant_id, seq__gte=first, seq__lte=last).order_by("seq")
    for event in rows.iterator(chunk_size=CHUNK):
        fields = {name: getattr(event, name) for name in v.FIELDS}
        fields["occurred_at"] = v.utc_text(event.occurred_at)
        fields["interaction_guid"] = str(event.interaction_guid) if event.interaction_guid else None
        head = {"seq": event.seq, "prev_hash": event.prev_hash, "hash": event.hash}
        if event.pk in matched_ids:
            yield json.dumps({**head, **fields}), True
        else:
            yield json.dumps({**head, "digest": v.digest(fields).hex()}), False


# --- the bundle -----------------------------------------------------------------------------------
class ExportRefused(Exception):
    """The bundle cannot be made (nothing matches; the chain does not verify)."""


def build_bundle(tenant, matching, filters, exported_by):
    """The bundle of the events ``matching`` (a queryset of ``tenant``'s events) as a temporary
    file (spooled to disk past a few megabytes), its file name and its manifest."""
    _checkpoint, _created, result = cp.take_checkpoint(tenant, source="web")
    if not result.ok:
        raise ExportRefused(f"The audit chain does not verify, so no verifiable bundle can be made: {result.line}")
    bounds = matching.aggregate(first=Min("seq"), last=Max("seq"))
    if bounds["first"] is None:
        raise ExportRefused("No audit event matches these filters: nothing to export.")
    signed = AuditCheckpoint.objects.filter(tenant=tenant)
    start = signed.filter(seq__lt=bounds["first"]).order_by("-seq").first()
    end = signed.filter(seq__gte=bounds["last"]).order_by("seq").first()
    if end is None:  # events after the checkpoint just taken (appended meanwhile): take another
        end, _created, _result = cp.take_checkpoint(tenant, source="web")
    first = (start.seq if start else 0) + 1
    stamp = timezone.now()
    name = f"audit-{tenant.slug}-{first}-{end.seq}-{stamp:%Y%m%dT%H%M%SZ}.zip"
    in_range = signed.filter(seq__gte=first - 1, seq__lte=end.seq).order_by("seq")
    keys = cp.trusted_keys()
    used = sorted({row.key_fingerprint for row in in_range} & set(keys))
    manifest = {
        "format": "holdfast-audit-bundle",
        "version": 1,
        "tenant": tenant.pk,
        "tenant_slug": tenant.slug,
        "exported_at": v.utc_text(stamp),
        "exported_by": exported_by,
        "filters": filters,
        "first_seq": first,
        "last_seq": end.seq,
        "starts_after": {"seq": start.seq, "hash": start.hash} if start else {"seq": 0, "hash": v.GENESIS},
        "ends_at": {"seq": end.seq, "hash": end.hash},
        "key_fingerprints": used,
    }
    out = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 (the response closes it)
    full = 0
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("events.jsonl", "w") as stream:
            text = io.TextIOWrapper(stream, encoding="utf-8", newline="\n")
            if uses_sql():
                lines = _pg_lines(tenant.pk, first, end.seq, matching.values("id").query.sql_with_params())
            else:
                lines = _python_lines(tenant.pk, first, end.seq, set(matching.values_list("id", flat=True)))
            for line, in_full in lines:
                full += in_full
                text.write(line + "\n")
            text.flush()
            text.detach()
        manifest["events_in_full"] = full
        archive.writestr(
            "checkpoints.jsonl", "".join(json.dumps(cp.as_dict(row, tenant.slug)) + "\n" for row in in_range)
        )
        archive.writestr("public_keys.pem", b"".join(cp.public_pem(keys[f]) for f in used))
        archive.writestr("manifest.json", json.dumps(manifest, indent=1))
        archive.writestr(
            "README.md",
            README.format(
                slug=tenant.slug,
                tenant=tenant.pk,
                at=manifest["exported_at"],
                by=exported_by,
                first=first,
                last=end.seq,
                full=full,
                filters=json.dumps(filters) if filters else "none",
                name=name,
                fingerprint=cp.key_fingerprint(),
            ),
        )
        archive.write(VERIFIER, "verify_bundle.py")
    out.seek(0)
    return out, name, manifest
