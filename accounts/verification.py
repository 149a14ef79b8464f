"""Verifying a tenant's audit chain: every hash recomputed, every link and sequence number checked,
every checkpoint's signature checked and the chain checked to pass through it, the tail checked
against the chain head and the latest checkpoint (external copies included).

Streaming in constant memory. On PostgreSQL the database recomputes every row's hash
(``holdfast_audit_digest``, the same function the appends use) in one aggregate that finds the
first row whose hash does not match its content — run by parallel workers, since the digests are
the expensive part — and the links and sequence numbers are then walked here in keyset pages of
:data:`PAGE` rows by ``(seq, id)`` (four small values per row). Elsewhere the rows are hashed here
with :mod:`accounts.verify_bundle`. On PostgreSQL the run reads one REPEATABLE READ snapshot, so events
appended meanwhile are neither half-seen nor mistaken for a break.

The kinds of break, the first one found is reported: *row edited* (a row's hash does not match its
own content), *row removed or inserted* (a gap or a duplicate in seq, a link to a hash that is not
the previous row's, events beyond the chain head), *tail truncated* (the chain ends before the head
or a signed checkpoint), *bad signature* (a checkpoint that does not verify with a trusted key), and
*chain does not extend checkpoint* (a signed checkpoint's hash is not the chain's hash there: the
history up to it was rewritten).
"""

from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from . import checkpoints as cp
from . import verify_bundle as v
from .chain import digest_sql, uses_sql
from .models import AuditChainHead, AuditCheckpoint, AuditEvent, AuditVerification

PAGE = 50000


@dataclass
class Result:
    tenant_slug: str
    from_seq: int
    last_seq: int = 0
    last_hash: str = v.GENESIS
    events: int = 0
    checkpoints: int = 0
    kind: str = ""
    seq: int | None = None
    message: str = ""

    @property
    def ok(self):
        return not self.kind

    @property
    def line(self):
        """The one-line summary (``verify_audit``'s output; its format is part of the contract)."""
        if self.ok:
            return (
                f"OK tenant {self.tenant_slug}: {self.events} events verified (seq {self.from_seq}-{self.last_seq}), "
                f"{self.checkpoints} checkpoint(s) signed and extended, head {self.last_hash[:16]}"
            )
        return f"BROKEN tenant {self.tenant_slug}: {self.kind} at seq {self.seq}: {self.message}"


def _pg_first_edited(tenant_id, start_seq, end_seq):
    """The lowest seq in the range whose hash does not match its own content (or None): one
    aggregate, which PostgreSQL runs in parallel workers (the digests are the expensive part)."""
    with connection.cursor() as cursor:
        # Parallel and without JIT whatever the table's size (JIT compiles for seconds, on every query).
        cursor.execute(
            "SET LOCAL jit = off; SET LOCAL parallel_setup_cost = 0; SET LOCAL parallel_tuple_cost = 0; "
            "SET LOCAL min_parallel_index_scan_size = 0; SET LOCAL min_parallel_table_scan_size = 0"
        )
        cursor.execute(
            f"""
            SELECT min(e.seq + 0) FROM {AuditEvent._meta.db_table} e
            WHERE e.tenant_id = %s AND e.seq >= %s AND e.seq <= %s AND NOT (
                CASE WHEN e.prev_hash ~ '^[0-9a-f]{{64}}$'
                     THEN encode(sha256(decode(e.prev_hash, 'hex') || {digest_sql("e")}), 'hex') = e.hash
                     ELSE false END)
            """,
            [tenant_id, start_seq, end_seq],
        )
        return cursor.fetchone()[0]


def _pg_rows(tenant_id, start_seq, end_seq):
    """``(id, seq, prev_hash, hash, content_ok)`` of the rows with ``start_seq <= seq <= end_seq``,
    in keyset pages: the links are checked here, the content by :func:`_pg_first_edited`."""
    edited = _pg_first_edited(tenant_id, start_seq, end_seq)
    sql = f"""
        SELECT e.id, e.seq, e.prev_hash, e.hash FROM {AuditEvent._meta.db_table} e
        WHERE e.tenant_id = %s AND e.seq >= %s AND e.seq <= %s AND (e.seq, e.id) > (%s, %s)
        ORDER BY e.seq, e.id LIMIT {PAGE}
    """
    after = (start_seq - 1, 2**62)  # (seq, id) after every row before start_seq
    with connection.cursor() as cursor:
        while True:
            cursor.execute(sql, [tenant_id, after[0], end_seq, *after])
            page = cursor.fetchall()
            for pk, seq, prev_hash, row_hash in page:
                yield pk, seq, prev_hash, row_hash, seq != edited
            if len(page) < PAGE:
                return
            after = (page[-1][1], page[-1][0])


def content_ok(event):
    """Whether ``event``'s hash is the hash of its own content after its ``prev_hash`` (Python)."""
    fields = {name: getattr(event, name) for name in v.FIELDS}
    fields["occurred_at"] = v.utc_text(event.occurred_at)
    fields["interaction_guid"] = str(event.interaction_guid) if event.interaction_guid else None
    try:
        return v.link(event.prev_hash, v.digest(fields)) == event.hash
    except (ValueError, TypeError):
        return False


def _python_rows(tenant_id, start_seq, end_seq):
    rows = AuditEvent.objects.filter(tenant_id=tenant_id, seq__gte=start_seq, seq__lte=end_seq).order_by("seq", "id")
    for event in rows.iterator(chunk_size=2000):
        yield event.pk, event.seq, event.prev_hash, event.hash, content_ok(event)


def _checkpoints(tenant, from_seq):
    """Checkpoints at or after ``from_seq`` (database and external copies), by seq, and the number
    of all of them (as dicts; duplicates of one seq are all checked)."""
    rows = [cp.as_dict(row, tenant.slug) for row in AuditCheckpoint.objects.filter(tenant=tenant).order_by("seq")]
    known = {row["seq"] for row in rows}
    rows += cp.external_checkpoints(tenant.pk, skip_seqs=known)
    return sorted((row for row in rows if row["seq"] >= from_seq), key=lambda row: row["seq"])


def _walk(tenant, result, anchor, end_seq, pending, keys):
    walker = v.ChainWalker(*anchor)
    rows = _pg_rows if uses_sql() else _python_rows
    position = 0

    def reached(seq, row_hash):
        nonlocal position
        while position < len(pending) and pending[position]["seq"] <= seq:
            checkpoint = pending[position]
            position += 1
            if not v.signature_valid(checkpoint, keys):
                raise v.Break(v.BAD_SIGNATURE, checkpoint["seq"], "the checkpoint's signature does not verify")
            if checkpoint["seq"] < seq or checkpoint["hash"] != row_hash:
                raise v.Break(
                    v.REWRITTEN, checkpoint["seq"], "the chain's hash here differs from the signed checkpoint"
                )
            result.checkpoints += 1

    if anchor[0]:
        reached(anchor[0], anchor[1])
    for _pk, seq, prev_hash, row_hash, ok in rows(tenant.pk, anchor[0] + 1, end_seq):
        walker.step(seq, prev_hash, row_hash, ok)
        reached(seq, row_hash)
        result.last_seq, result.last_hash, result.events = walker.seq, walker.head, walker.count
    for checkpoint in pending[position:]:
        if not v.signature_valid(checkpoint, keys):
            raise v.Break(v.BAD_SIGNATURE, checkpoint["seq"], "the checkpoint's signature does not verify")
        raise v.Break(
            v.TRUNCATED,
            walker.seq + 1,
            f"the events end at seq {walker.seq}, before the signed checkpoint at seq {checkpoint['seq']}",
        )


def _anchor(tenant, from_seq):
    """Where the walk starts: the row before ``from_seq`` (its stored hash), or the empty chain."""
    if from_seq <= 1:
        return 0, v.GENESIS
    before = AuditEvent.objects.filter(tenant=tenant, seq__lt=from_seq).order_by("-seq", "-id").first()
    if before is None:
        return 0, v.GENESIS
    return before.seq, before.hash


def verify_tenant(tenant, from_seq=1, source="command", record=True):
    """Verify ``tenant``'s chain from ``from_seq``; returns a :class:`Result` (and records it)."""
    started = timezone.now()
    from_seq = max(int(from_seq), 1)
    result = Result(tenant.slug, from_seq)
    try:
        outermost = not connection.in_atomic_block
        with transaction.atomic():
            if uses_sql() and outermost:
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            _verify(tenant, from_seq, result)
    except v.Break as exc:
        result.kind, result.seq, result.message = exc.kind, exc.seq, exc.message
    if record:
        AuditVerification.objects.create(
            tenant=tenant,
            started_at=started,
            finished_at=timezone.now(),
            from_seq=from_seq,
            to_seq=result.last_seq,
            events=result.events,
            checkpoints=result.checkpoints,
            ok=result.ok,
            break_kind=result.kind,
            break_seq=result.seq,
            message=result.message,
            source=source,
        )
    return result


def _verify(tenant, from_seq, result):
    head = AuditChainHead.objects.filter(tenant=tenant).first()
    head_seq, head_hash = (head.seq, head.hash) if head else (0, v.GENESIS)
    keys = cp.trusted_keys()
    anchor = _anchor(tenant, from_seq)
    pending = _checkpoints(tenant, anchor[0])
    if anchor[0]:
        result.last_seq, result.last_hash = anchor
    # Rows beyond the head are read too: an event inserted behind the application's back is a break.
    _walk(tenant, result, anchor, max(head_seq, anchor[0]) + 10**12, pending, keys)
    if result.last_seq < head_seq:
        raise v.Break(
            v.TRUNCATED,
            result.last_seq + 1,
            f"the events end at seq {result.last_seq}, the head is at {head_seq}",
        )
    if result.last_seq > head_seq:
        raise v.Break(v.REMOVED_OR_INSERTED, head_seq + 1, f"events after the chain head (seq {head_seq})")
    if head_seq and result.last_hash != head_hash:
        raise v.Break(v.REMOVED_OR_INSERTED, head_seq, "the last event is not the one the chain head records")
