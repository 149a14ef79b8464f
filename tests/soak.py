"""The soak's world, operations and invariants, shared by ``bench/soak.py`` (randomized, concurrent,
with killed workers and failing storage) and the regression tests it prints when it finds a
violation (the same operations replayed in order, then the same invariants).

Every operation goes through the services (accounts/actors.py actors), exactly the paths users
take: requests through ``create_management_request`` (workers run them), policies through
``update_policy``, sweeps through ``start_sweep``, members through ``change_member_role`` /
``remove_member`` / ``add_member``, content through ``store_artifact``, API deletes over HTTP with a
real OAuth2 token (Django's test client against the real URL conf).
"""

import base64
import hashlib
import io
import random
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.utils import timezone

from accounts.actors import operator, user_actor
from accounts.models import AuditEvent, Membership, Role, User
from accounts.services import add_member, change_member_role, create_tenant, remove_member
from artifacts.models import Artifact, Lock, ManagementRequest, ManagementRequestItem, PendingUpload
from artifacts.services import (
    cancel_management_request,
    create_management_request,
    retry_management_request,
    store_artifact,
)
from core.vocabulary import ArtifactState, ArtifactType, AudioRecordingType, Channel, Direction, Origin, lock_targets
from interactions.services import create_interaction
from policies.models import LifecyclePolicy, SweepRun
from policies.services import create_policy, start_sweep, update_policy

PASSWORD = "Tq7!vines-Harbor-92"
ROLES = ("Viewer", "Supervisor", "Compliance Officer", "Administrator")
#: (artifact type, audio recording type) of stored content.
CONTENT_TYPES = (
    (ArtifactType.AUDIO_RECORDING, AudioRecordingType.CONFERENCE_CUSTOMER),
    (ArtifactType.AUDIO_RECORDING, AudioRecordingType.CONFERENCE_AGENT),
    (ArtifactType.EMAIL, ""),
    (ArtifactType.MESSAGING_TRANSCRIPT, ""),
    (ArtifactType.VOICEMAIL, ""),
    (ArtifactType.SCRIPT, ""),
)
#: Request selections: (artifact type selection, audio recording type).
SELECTIONS = (
    ("any", ""),
    ("all", ""),
    (ArtifactType.AUDIO_RECORDING, AudioRecordingType.CONFERENCE_CUSTOMER),
    (ArtifactType.AUDIO_RECORDING, AudioRecordingType.CONFERENCE_AGENT),
    (ArtifactType.EMAIL, ""),
    (ArtifactType.VOICEMAIL, ""),
    (ArtifactType.MESSAGING_TRANSCRIPT, ""),
)
API_SCOPES = ["interaction-content:read", "interaction-content:delete"]

#: Operation kinds and their weights in the random mix.
MIX = {
    "add_lock": 22,
    "remove_lock": 9,
    "delete": 14,
    "content_arrives": 16,
    "api_delete": 9,
    "api_delete_batch": 2,
    "policy_edit": 6,
    "sweep": 5,
    "membership": 7,
    "retry": 4,
    "cancel": 2,
}


@dataclass
class World:
    """The seeded tenant: ids only (every operation reloads what it needs)."""

    tenant_id: int
    interactions: list  # [(pk, guid)]
    requesters: list  # usernames
    roles: dict  # name -> role id
    policies: dict  # name -> policy id
    api_client_id: str = ""
    api_secret: str = ""
    tokens: dict = field(default_factory=dict)


OPERATOR = operator("soak")


def _content(rng, world, interaction_pk, days_old, type_index=None):
    artifact_type, audio = CONTENT_TYPES[rng.randrange(len(CONTENT_TYPES)) if type_index is None else type_index]
    data = f"soak {uuid.uuid4()} ".encode() * rng.randint(1, 40)
    return store_artifact(
        interaction_pk,
        actor=OPERATOR,
        artifact_type=artifact_type,
        audio_recording_type=audio,
        content_key=str(uuid.uuid4()),
        filename="content.bin",
        stream=io.BytesIO(data),
        created_at=timezone.now() - timedelta(days=days_old),
        idempotency_key=f"soak-{uuid.uuid4()}",
    )


def build_world(seed, *, interactions=24, requesters=4, slug=None):
    """Create the soak's tenant (through the services): ``requesters`` Compliance Officers, an API
    client, a short-retention policy (disabled), and interactions with content of every age."""
    rng = random.Random(f"world:{seed}")
    slug = slug or f"soak-{uuid.uuid4().hex[:8]}"
    tenant = create_tenant("Soak", slug, actor=OPERATOR, locked_interactions_limit=100000)
    roles = dict(Role.objects.filter(tenant=tenant).values_list("name", "pk"))
    names = []
    for n in range(requesters):
        name = f"{slug}-requester-{n}"
        add_member(tenant.pk, username=name, role_id=roles["Compliance Officer"], actor=OPERATOR, password=PASSWORD)
        names.append(name)
    create_policy(
        tenant.pk, OPERATOR, name="Soak short", enabled=False, artifact_type=ArtifactType.EMAIL, delete_after_days=5
    )
    policies = dict(LifecyclePolicy.objects.filter(tenant=tenant).values_list("name", "pk"))
    pool = []
    for n in range(interactions):
        started = timezone.now() - timedelta(days=rng.randint(0, 400))
        interaction, _ = create_interaction(
            tenant.pk,
            OPERATOR,
            channel=rng.choice([Channel.VOICE, Channel.EMAIL, Channel.CHAT]),
            direction=rng.choice([Direction.INBOUND, Direction.OUTBOUND]),
            origin=rng.choice([Origin.QUEUE, Origin.DIALER]),
            started_at=started,
            ended_at=started + timedelta(seconds=90),
            duration_seconds=90,
            from_address=f"+1555{n:07d}",
            to_address="+15550000000",
            agent_id="agent-1",
            agent_name="Soak Agent",
            source_system="soak",
            source_call_id=f"CA-{slug}-{n}",
            source_task_id=f"WT-{slug}-{n}",
        )
        pool.append((interaction.pk, str(interaction.guid)))
        for _ in range(2):
            _content(rng, None, interaction.pk, rng.randint(0, 400))
    world = World(tenant.pk, pool, names, roles, policies)
    from api.services import create_api_client

    client, secret = create_api_client(tenant.pk, OPERATOR, name="soak integrator", scopes=API_SCOPES)
    world.api_client_id, world.api_secret = client.client_id, secret
    return world


# --- operations -----------------------------------------------------------------------------------
def make_op(seed, index, world):
    """Operation ``index`` of seed ``seed``: the same whatever happened before (so a run replays and
    shrinks to a prefix). A JSON-able dict."""
    rng = random.Random(f"op:{seed}:{index}")
    kind = rng.choices(list(MIX), weights=list(MIX.values()))[0]
    n = len(world.interactions)
    op = {"i": index, "kind": kind, "who": rng.randrange(len(world.requesters))}
    if kind in ("add_lock", "remove_lock", "delete"):
        op["interactions"] = sorted(set(rng.randrange(n) for _ in range(rng.randint(1, 4))))
        op["selection"] = list(SELECTIONS[rng.randrange(len(SELECTIONS))])
        if kind == "add_lock" and rng.random() < 0.4:
            op["expires_in_days"] = rng.randint(1, 30)
        if kind == "delete":
            op["remove_locks"] = rng.random() < 0.4
    elif kind == "content_arrives":
        op["interaction"] = rng.randrange(n)
        op["type"] = rng.randrange(len(CONTENT_TYPES))
        op["days_old"] = rng.choice([0, 3, 10, 40, 100, 300, 500])
    elif kind == "api_delete":
        op["interaction"], op["pick"] = rng.randrange(n), rng.randrange(1000)
    elif kind == "api_delete_batch":
        op["interactions"] = sorted(set(rng.randrange(n) for _ in range(rng.randint(1, 3))))
    elif kind == "policy_edit":
        op["policy"] = rng.choice(["Everything else", "Outbound dialer recordings", "Soak short"])
        op["choice"] = rng.randrange(6)
    elif kind == "sweep":
        op["as_requester"] = rng.random() < 0.5
    elif kind == "membership":
        op["action"] = rng.choice(["role", "role", "remove"])
        op["role"] = rng.choice(ROLES)
    elif kind in ("retry", "cancel"):
        op["pick"] = rng.randrange(1000)
    return op


def _requester(world, op):
    return User.objects.get(username=world.requesters[op["who"]])


def _guids(world, indices):
    return ",".join(world.interactions[i][1] for i in indices)


def _request(world, op):
    selection, audio = op["selection"]
    fields = {
        "request_type": op["kind"],
        "artifact_type": selection,
        "audio_recording_type": audio,
        "interaction_ids": _guids(world, op["interactions"]),
        "confirmed": True,
        "description": f"soak op {op['i']}",
    }
    if "expires_in_days" in op:
        fields["lock_expires"] = True
        fields["lock_expires_on"] = timezone.now().date() + timedelta(days=op["expires_in_days"])
    if op.get("remove_locks"):
        fields["remove_locks"] = True
    req = create_management_request(world.tenant_id, user_actor(_requester(world, op)), **fields)
    return f"request {req.pk}"


def _policy_edit(world, op):
    policy_id = world.policies[op["policy"]]
    choice = op["choice"]
    if op["policy"] == "Everything else":
        fields = [
            {"delete_after_days": 365, "archive_after_days": None, "keep_forever": False},
            {"delete_after_days": 60, "archive_after_days": None, "keep_forever": False},
            {"delete_after_days": 200, "archive_after_days": 20, "keep_forever": False},
            {"delete_after_days": None, "archive_after_days": 5, "keep_forever": True},
            {"delete_after_days": 30, "archive_after_days": 2, "keep_forever": False},
            {"delete_after_days": 1000, "archive_after_days": None, "keep_forever": False},
        ][choice]
    elif op["policy"] == "Outbound dialer recordings":
        fields = {"enabled": choice % 2 == 0, "delete_after_days": [30, 2, 90][choice % 3]}
    else:
        fields = {"enabled": choice % 3 != 0, "delete_after_days": [5, 1, 50][choice % 3]}
    update_policy(policy_id, OPERATOR, **fields)
    return f"policy {op['policy']}: {fields}"


def _membership(world, op):
    user = _requester(world, op)
    membership = Membership.objects.filter(user=user, tenant_id=world.tenant_id).first()
    if membership is None:
        add_member(world.tenant_id, username=user.username, role_id=world.roles[op["role"]], actor=OPERATOR)
        return f"{user.username} added as {op['role']}"
    if op["action"] == "remove":
        remove_member(membership.pk, OPERATOR)
        return f"{user.username} removed"
    change_member_role(membership.pk, world.roles[op["role"]], OPERATOR)
    return f"{user.username} now {op['role']}"


def _token(world):
    from django.test import Client

    if "token" not in world.tokens:
        basic = base64.b64encode(f"{world.api_client_id}:{world.api_secret}".encode()).decode()
        answer = Client().post(
            "/api/oauth/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {basic}"
        )
        world.tokens["token"] = answer.json()["access_token"]
    return world.tokens["token"]


def _http():
    from django.test import Client

    return Client(raise_request_exception=False)


def _api_delete(world, op):
    pk, guid = world.interactions[op["interaction"]]
    ids = list(Artifact.objects.filter(interaction_id=pk).present().order_by("id").values_list("id", flat=True))
    if not ids:
        return "nothing to delete"
    artifact_id = ids[op["pick"] % len(ids)]
    answer = _http().delete(
        f"/api/v1/interactions/{guid}/content/{artifact_id}", HTTP_AUTHORIZATION=f"Bearer {_token(world)}"
    )
    return f"DELETE artifact {artifact_id}: {answer.status_code}", answer.status_code


def _api_delete_batch(world, op):
    guids = [world.interactions[i][1] for i in op["interactions"]]
    answer = _http().post(
        "/api/v1/interactions/delete-batch",
        {"guids": guids},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {_token(world)}",
    )
    return f"delete-batch {len(guids)}: {answer.status_code}", answer.status_code


def _pick_request(world, op, status):
    ids = list(
        ManagementRequest.objects.filter(tenant_id=world.tenant_id, status=status)
        .order_by("id")
        .values_list("id", flat=True)
    )
    return ids[op["pick"] % len(ids)] if ids else None


def apply_op(world, op):
    """Carry out ``op`` through the services; returns ``(outcome text, HTTP status or None)``.
    Refusals (permission, validation) are outcomes, not failures: users meet them too."""
    kind = op["kind"]
    try:
        if kind in ("add_lock", "remove_lock", "delete"):
            result = _request(world, op)
        elif kind == "content_arrives":
            rng = random.Random(f"content:{op['i']}")
            artifact = _content(rng, world, world.interactions[op["interaction"]][0], op["days_old"], op["type"])
            result = f"artifact {artifact.pk} stored" + (" (locked)" if artifact.legal_hold else "")
        elif kind == "api_delete":
            result = _api_delete(world, op)
        elif kind == "api_delete_batch":
            result = _api_delete_batch(world, op)
        elif kind == "policy_edit":
            result = _policy_edit(world, op)
        elif kind == "sweep":
            actor = user_actor(_requester(world, op)) if op["as_requester"] else OPERATOR
            result = f"sweep {start_sweep(world.tenant_id, actor, SweepRun.Trigger.COMMAND).pk}"
        elif kind == "membership":
            result = _membership(world, op)
        elif kind == "retry":
            pk = _pick_request(world, op, ManagementRequest.Status.ERROR)
            if pk is None:
                return "no request in Error", None
            retry_management_request(pk, user_actor(_requester(world, op)))
            result = f"request {pk} retried"
        elif kind == "cancel":
            pk = _pick_request(world, op, ManagementRequest.Status.QUEUED)
            if pk is None:
                return "no Queued request", None
            cancel_management_request(pk, user_actor(_requester(world, op)))
            result = f"request {pk} cancelled"
        else:
            raise ValueError(kind)
    except PermissionDenied as exc:
        return f"refused: {str(exc)[:120]}", None
    except ValidationError as exc:
        return f"invalid: {' '.join(exc.messages)[:120]}", None
    return result if isinstance(result, tuple) else (result, None)


# --- invariants --------------------------------------------------------------------------------------
@dataclass
class Violation:
    """One broken rule: ``kind``, the rows it concerns, what is wrong."""

    kind: str
    subject: str
    detail: str
    interaction_id: int | None = None

    def line(self):
        return f"[{self.kind}] {self.subject}: {self.detail}"


class LockWatch:
    """Remembers when each lock row was first seen committed, so that "a lock that committed before
    the delete reached it" is decided on evidence: a lock seen before the delete's decision time
    committed before it, whatever its own timestamps say."""

    def __init__(self):
        self.first_seen = {}

    def observe(self):
        now = timezone.now()
        for pk in Lock.objects.exclude(pk__in=list(self.first_seen)).values_list("pk", flat=True):
            self.first_seen[pk] = now


def lock_safety(world, watch):
    """No artifact deleted or archived while a lock active at that moment, committed (seen) before
    it, covered it. Artifacts are read first, locks after: a lock still unreleased now was
    unreleased when the decision was taken."""
    gone = list(
        Artifact.objects.filter(tenant_id=world.tenant_id)
        .exclude(deletion_started_at__isnull=True, archived_at__isnull=True)
        .values_list(
            "pk", "interaction_id", "artifact_type", "audio_recording_type", "deletion_started_at", "archived_at"
        )
    )
    locks = {}
    for lock in Lock.objects.filter(tenant_id=world.tenant_id, released_at__isnull=True).values(
        "pk", "interaction_id", "artifact_type", "audio_recording_type", "expires_at"
    ):
        key = (lock["interaction_id"], lock["artifact_type"], lock["audio_recording_type"])
        locks.setdefault(key, []).append(lock)
    found = []
    for pk, iid, atype, audio, decided_at, archived_at in gone:
        for when, what in ((decided_at, "deleted"), (archived_at, "archived")):
            if when is None:
                continue
            for lock in locks.get((iid, atype, audio), []):
                seen = watch.first_seen.get(lock["pk"])
                if seen is not None and seen < when and (lock["expires_at"] is None or lock["expires_at"] > when):
                    found.append(
                        Violation(
                            "locked_content_lost",
                            f"artifact {pk}",
                            f"{what} at {when.isoformat()} while lock {lock['pk']} "
                            f"(seen {seen.isoformat()}) was active",
                            iid,
                        )
                    )
    return found


def tombstones(world):
    """Every tombstone has exactly one ARTIFACT_DELETED event (they commit together). Read as
    tombstones, events, tombstones again, so that work committing meanwhile is not a finding."""

    def deleted():
        rows = Artifact.objects.filter(tenant_id=world.tenant_id, state=ArtifactState.DELETED)
        return set(rows.values_list("pk", flat=True))

    before = deleted()
    events = dict(
        AuditEvent.objects.filter(tenant_id=world.tenant_id, kind=AuditEvent.Kind.ARTIFACT_DELETED)
        .values("artifact_id")
        .annotate(n=Count("id"))
        .values_list("artifact_id", "n")
    )
    after = deleted()
    found = [
        Violation("tombstone_without_event", f"artifact {pk}", "no ARTIFACT_DELETED event")
        for pk in before
        if pk not in events
    ]
    found += [
        Violation("duplicate_delete_event", f"artifact {pk}", f"{n} ARTIFACT_DELETED events")
        for pk, n in events.items()
        if n > 1
    ]
    found += [
        Violation("event_without_tombstone", f"artifact {pk}", "ARTIFACT_DELETED but not deleted")
        for pk in events
        if pk not in after
    ]
    return found


def _versions(s3, bucket):
    """``{key: [(version id, is delete marker)]}`` of every object version in ``bucket``."""
    found = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for v in page.get("Versions", []):
            found.setdefault(v["Key"], []).append((v["VersionId"], False))
        for v in page.get("DeleteMarkers", []):
            found.setdefault(v["Key"], []).append((v["VersionId"], True))
    return found


def storage_truth(world, s3, buckets, *, quiescent=True):
    """Against the buckets: tombstones have no bytes (no version, no marker); present artifacts have
    exactly their recorded version with the recorded SHA-256, and carry a legal hold exactly when
    locked (``quiescent``: no work running); no object belongs to no artifact."""
    active_bucket, archive_bucket = buckets
    rows = Artifact.objects.filter(tenant_id=world.tenant_id)
    fields = ("pk", "interaction_id", "state", "storage_key", "storage_version", "sha256", "legal_hold",
              "stale_active_copy")  # fmt: skip
    # While work runs, only rows that did not change while the buckets were listed are judged: a row
    # stored, or deleted, between the listing and the reading of rows is no violation.
    before = None if quiescent else {a["pk"]: a for a in rows.values(*fields)}
    objects = {"active": _versions(s3, active_bucket), "archive": _versions(s3, archive_bucket)}
    bucket_of = {"active": active_bucket, "archive": archive_bucket}
    locked = set(rows.present().locked().values_list("pk", flat=True))
    # While work runs, bytes of a write that failed stay until the upload's intent is resumed
    # (RESUME_AFTER): the product's promise for them is the intent, checked at the end, when none is left.
    pending = (
        set()
        if quiescent
        else set(PendingUpload.objects.filter(tenant_id=world.tenant_id).values_list("storage", "storage_key"))
    )
    expected, found = {"active": {}, "archive": {}}, []
    for a in rows.values(*fields):
        if before is not None and before.get(a["pk"]) != a:
            continue
        pk, key, state = a["pk"], a["storage_key"], a["state"]
        if state == ArtifactState.DELETED:
            for name in ("active", "archive"):
                if objects[name].get(key) and (name, key) not in pending:
                    found.append(
                        Violation(
                            "tombstone_bytes_left",
                            f"artifact {pk}",
                            f"{name} still holds {objects[name][key]}",
                            a["interaction_id"],
                        )
                    )
            continue
        if state == ArtifactState.DELETING:
            if quiescent:
                found.append(
                    Violation("deletion_unfinished", f"artifact {pk}", "still being deleted", a["interaction_id"])
                )
            continue
        name = "active" if state == ArtifactState.STORED else "archive"
        expected[name][key] = a
        versions = objects[name].get(key, [])
        if (a["storage_version"], False) not in versions:
            found.append(
                Violation(
                    "bytes_missing",
                    f"artifact {pk}",
                    f"{name} lacks version {a['storage_version']} (has {versions})",
                    a["interaction_id"],
                )
            )
            continue
        extra = [v for v in versions if v != (a["storage_version"], False)]
        if extra and quiescent:
            found.append(
                Violation("orphan_version", f"artifact {pk}", f"{name} also holds {extra}", a["interaction_id"])
            )
        body = s3.get_object(Bucket=bucket_of[name], Key=key, VersionId=a["storage_version"])["Body"].read()
        if hashlib.sha256(body).hexdigest() != a["sha256"]:
            found.append(Violation("bytes_changed", f"artifact {pk}", "SHA-256 differs from the recorded one"))
        if quiescent:
            hold = s3.get_object_legal_hold(Bucket=bucket_of[name], Key=key, VersionId=a["storage_version"])
            on = hold.get("LegalHold", {}).get("Status") == "ON"
            if on != (pk in locked) or a["legal_hold"] != (pk in locked):
                found.append(
                    Violation(
                        "legal_hold_wrong",
                        f"artifact {pk}",
                        f"locked={pk in locked}, S3 hold={on}, recorded hold={a['legal_hold']}",
                        a["interaction_id"],
                    )
                )
        if name == "archive" and quiescent and objects["active"].get(key):
            found.append(
                Violation(
                    "orphan_version", f"artifact {pk}", "archived, but its active copy remains", a["interaction_id"]
                )
            )
    if quiescent:
        for name, listing in objects.items():
            prefix = f"t{world.tenant_id}/"
            owned = set(rows.values_list("storage_key", flat=True))
            for key in listing:
                if key not in owned and key.startswith(prefix):
                    found.append(Violation("orphan_object", f"{name}:{key}", f"belongs to no artifact: {listing[key]}"))
    return found


def jobs_settled(world):
    """Every request and sweep ended Complete / Error / Cancelled."""
    found = []
    for model, label in ((ManagementRequest, "request"), (SweepRun, "sweep")):
        for pk, status in (
            model.objects.filter(tenant_id=world.tenant_id)
            .exclude(status__in=["complete", "error", "cancelled"])
            .values_list("pk", "status")
        ):
            found.append(Violation("job_stuck", f"{label} {pk}", f"left {status}"))
    return found


def request_counts(world):
    """Counts on finished request items equal the rows: a Delete item's ``deleted`` is the number of
    its interaction's tombstones of that request, ``matched`` = deleted + skipped + refused; a done
    Add Lock item has one lock row per type of its selection."""
    found = []
    items = ManagementRequestItem.objects.filter(
        request__tenant_id=world.tenant_id, status=ManagementRequestItem.Status.DONE
    ).select_related("request")
    tombs = {
        (r["deletion_request_id"], r["interaction_id"]): r["n"]
        for r in Artifact.objects.filter(tenant_id=world.tenant_id, state=ArtifactState.DELETED)
        .exclude(deletion_request_id=None)
        .values("deletion_request_id", "interaction_id")
        .annotate(n=Count("id"))
    }
    lock_rows = {
        (r["request_id"], r["interaction_id"]): r["n"]
        for r in Lock.objects.filter(tenant_id=world.tenant_id)
        .exclude(request_id=None)
        .values("request_id", "interaction_id")
        .annotate(n=Count("id"))
    }
    for item in items:
        req = item.request
        where = f"request {req.pk} item {item.interaction_id}"
        if req.request_type == ManagementRequest.RequestType.DELETE:
            rows = tombs.get((req.pk, item.interaction_id), 0)
            if item.deleted != rows:
                found.append(
                    Violation("count_wrong", where, f"deleted={item.deleted}, tombstones={rows}", item.interaction_id)
                )
            if item.matched != item.deleted + item.skipped_locked:
                found.append(
                    Violation(
                        "count_wrong",
                        where,
                        f"matched={item.matched} != deleted {item.deleted} + skipped {item.skipped_locked}",
                        item.interaction_id,
                    )
                )
        elif req.request_type == ManagementRequest.RequestType.ADD_LOCK:
            want = len(lock_targets(req.artifact_type, req.audio_recording_type))
            rows = lock_rows.get((req.pk, item.interaction_id), 0)
            if rows != want:
                found.append(Violation("count_wrong", where, f"{rows} lock rows, want {want}", item.interaction_id))
    return found


def audit_chain():
    """The audit hash chains verify (``manage.py verify_audit``)."""
    from django.core.management import call_command

    out = io.StringIO()
    try:
        call_command("verify_audit", stdout=out, stderr=out)
    except SystemExit as exc:
        if exc.code:
            return [Violation("audit_chain_broken", "verify_audit", out.getvalue().strip()[-300:])]
    return []


def replay(seed, operations, *, interactions=24):
    """Build the world of ``seed`` and carry out its first ``operations`` operations in order (jobs
    run as each commits when ``JOBS_INLINE``); returns ``(world, watch)`` for the invariants. The
    soak's worlds have 24 interactions (another size gives other operations)."""
    from artifacts import disposal

    world, watch = build_world(seed, interactions=interactions), LockWatch()
    for index in range(operations):
        watch.observe()
        apply_op(world, make_op(seed, index, world))
    disposal.resume_interrupted(now=timezone.now() + disposal.RESUME_AFTER + timedelta(seconds=1))
    return world, watch


def final_violations(world, watch, s3, buckets):
    """Every invariant, once the work is quiescent."""
    watch.observe()
    return [
        *lock_safety(world, watch),
        *tombstones(world),
        *storage_truth(world, s3, buckets),
        *jobs_settled(world),
        *request_counts(world),
        *audit_chain(),
    ]
