"""Tenants, users, roles, memberships, the guardian grants on tenants, and the audit trail."""

import zoneinfo

from django.conf import settings
from django.contrib.auth.models import AbstractUser, Group
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from core.regions import default_region, validate_region

from .managers import AuditEventQuerySet, TenantScopedQuerySet
from .permissions import TENANT_PERMISSIONS


def validate_time_zone(value):
    """Reject names that are not IANA time zones (``Europe/Paris``, ``UTC`` ...)."""
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"“{value}” is not a known time zone (use a name such as Europe/Paris).")


class User(AbstractUser):
    """A person who signs in. What they may do comes from their memberships' roles."""

    class Meta:
        db_table = "accounts_user"


class Tenant(models.Model):
    """A contact-center organization; every interaction, artifact and grant belongs to one."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True, help_text="Used in URLs: /t/<slug>/")
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    locked_interactions_limit = models.PositiveIntegerField(
        default=1000,
        help_text="Most interactions that may be under an active lock at once.",
    )
    storage_region = models.CharField(
        max_length=32,
        default=default_region,
        validators=[validate_region],
        help_text="The storage region (STORAGE_REGIONS) whose buckets hold this tenant's content; it cannot "
        "change while the tenant holds any content.",
    )
    sweeps_start_on = models.DateField(
        "scheduled sweeps start on",
        null=True,
        blank=True,
        help_text="No scheduled lifecycle sweep runs before this tenant-local day (empty: from the start). "
        "Demo data gets tomorrow, so that nobody's first look at it follows a sweep.",
    )
    matter_required_for_locks = models.BooleanField(
        "matter required for locks",
        default=False,
        help_text="Every Add Lock request must name an open legal matter (Configuration > Legal Holds).",
    )
    lock_expiry_notice_days = models.PositiveSmallIntegerField(
        "lock expiry notice days",
        default=14,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text="Locks expiring within this many days are listed on Legal Holds and emailed (once) to the "
        "matter's owner and the Compliance Officers.",
    )
    require_approval = models.BooleanField(
        "two-person approval",
        default=False,
        help_text="Remove Lock and Delete requests wait (Awaiting Approval) until a second user holding the same "
        "permissions approves them.",
    )
    require_policy_approval = models.BooleanField(
        "two-person approval of policy changes",
        default=False,
        help_text="A lifecycle policy change whose impact preview would delete anything waits until a second user "
        "who may manage policies approves it.",
    )
    export_retention_days = models.PositiveSmallIntegerField(
        "export retention days",
        default=7,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text="Export bundles can be downloaded for this many days, then they are removed.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantScopedQuerySet.as_manager(tenant_field="pk")

    class Meta:
        ordering = ["name"]
        default_permissions = ()
        permissions = TENANT_PERMISSIONS

    def __str__(self):
        return self.name


class TenantUserObjectPermission(UserObjectPermissionBase):
    """A direct grant of one permission on one tenant to one user (guardian, direct FK)."""

    content_object = models.ForeignKey(Tenant, on_delete=models.CASCADE)

    class Meta(UserObjectPermissionBase.Meta):
        pass


class TenantGroupObjectPermission(GroupObjectPermissionBase):
    """A grant of one permission on one tenant to a role's group (guardian, direct FK)."""

    content_object = models.ForeignKey(Tenant, on_delete=models.CASCADE)

    class Meta(GroupObjectPermissionBase.Meta):
        pass


class Role(models.Model):
    """A named, editable bundle of tenant permissions (Viewer, Supervisor, ...).

    Each role owns a Django group; the role's permissions are that group's guardian grants on the
    role's tenant, so a membership is "user in the role's group" and nothing is copied per user.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="roles")
    name = models.CharField(max_length=80)
    group = models.OneToOneField(Group, on_delete=models.PROTECT, related_name="role", editable=False)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["tenant", "name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="role_unique_name_per_tenant")]

    def __str__(self):
        return f"{self.name} ({self.tenant.slug})"

    @property
    def permission_codenames(self):
        """Codenames this role grants on its tenant, read from the guardian rows."""
        return set(
            TenantGroupObjectPermission.objects.filter(
                group_id=self.group_id, content_object_id=self.tenant_id
            ).values_list("permission__codename", flat=True)
        )


class Membership(models.Model):
    """A user's place in a tenant, with exactly one role there."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="memberships")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["tenant", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["user", "tenant"], name="membership_unique_user_tenant"),
        ]

    def __str__(self):
        return f"{self.user} in {self.tenant.slug} as {self.role.name}"


class InvitationQuerySet(TenantScopedQuerySet):
    """Invitations, with the ones still waiting for their person."""

    def pending(self):
        """Invitations nobody has accepted yet."""
        return self.filter(accepted_at__isnull=True)


class Invitation(models.Model):
    """An email address invited into a tenant with a role, until the person joins.

    Inviting an address nobody uses creates its account (no usable password) and its membership at
    once, and the invitation links to that account: the person joins by setting a password through
    the emailed link. An address that already belongs to an account elsewhere is never attached:
    its invitation has no account and stays pending until support links the existing account
    (``services.add_member``). Until then both look the same on the tenant's pages.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="invitations",
        help_text="The account this invitation created (none when the address already had one).",
    )
    invited_by = models.CharField(max_length=200, help_text="The actor who invited, as the audit trail names them.")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(help_text="When the invitation email was last sent.")
    accepted_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["tenant", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                "tenant",
                Lower("email"),
                condition=models.Q(accepted_at__isnull=True),
                name="invitation_one_pending_per_address",
            ),
        ]

    def __str__(self):
        return f"{self.email} to {self.tenant.slug} as {self.role.name}"


class AuditEvent(models.Model):
    """One append-only record of something that happened to a tenant's data or access.

    Rows are never updated or deleted: the model and its queryset refuse it, and on PostgreSQL a
    trigger refuses it too. References to interactions and artifacts are plain values, not
    foreign keys, so that no deletion anywhere can cascade into the trail.

    Each tenant's events form a hash chain (:mod:`accounts.chain`): ``seq`` numbers them 1, 2, 3 ...
    without gaps, ``prev_hash`` is the hash of the event before and ``hash`` covers this event's
    fields and ``prev_hash`` (the definition is in :mod:`accounts.verify_bundle`). Rows are chained
    as they are inserted, in the inserting statement, by :mod:`accounts.audit` only.
    """

    class Kind(models.TextChoices):
        MEMBER_ADDED = "member_added", "Member added"
        MEMBER_INVITED = "member_invited", "Member invited"
        MEMBER_ROLE_CHANGED = "member_role_changed", "Member role changed"
        MEMBER_REMOVED = "member_removed", "Member removed"
        ROLE_CREATED = "role_created", "Role created"
        ROLE_PERMISSIONS_CHANGED = "role_permissions_changed", "Role permissions changed"
        LOCK_ADDED = "lock_added", "Lock added"
        LOCK_REMOVED = "lock_removed", "Lock removed"
        LOCK_EXPIRED = "lock_expired", "Lock expired"
        ARTIFACT_DELETED = "artifact_deleted", "Artifact deleted"
        ARTIFACT_ARCHIVED = "artifact_archived", "Artifact moved to archive storage"
        ARTIFACT_PLAYED = "artifact_played", "Artifact played"
        ARTIFACT_DOWNLOADED = "artifact_downloaded", "Artifact downloaded"
        ARTIFACT_VIEWED = "artifact_viewed", "Artifact viewed"
        REQUEST_CREATED = "request_created", "Request created"
        REQUEST_CANCELLED = "request_cancelled", "Request cancelled"
        REQUEST_RETRIED = "request_retried", "Request retried"
        REQUEST_COMPLETED = "request_completed", "Request completed"
        REQUEST_FAILED = "request_failed", "Request failed"
        POLICY_CREATED = "policy_created", "Lifecycle policy created"
        POLICY_CHANGED = "policy_changed", "Lifecycle policy changed"
        POLICY_DELETED = "policy_deleted", "Lifecycle policy deleted"
        SWEEP_FINISHED = "sweep_finished", "Lifecycle sweep finished"
        SWEEP_FAILED = "sweep_failed", "Lifecycle sweep failed"
        SWEEP_STARTED = "sweep_started", "Lifecycle sweep started"
        TENANT_CREATED = "tenant_created", "Tenant created"
        TENANT_CHANGED = "tenant_changed", "Tenant settings changed"
        INTERACTION_CREATED = "interaction_created", "Interaction created"
        INTERACTION_CHANGED = "interaction_changed", "Interaction changed"
        ARTIFACT_STORED = "artifact_stored", "Artifact stored"
        API_CLIENT_CREATED = "api_client_created", "API client created"
        API_CLIENT_REVOKED = "api_client_revoked", "API client revoked"
        LOGIN_LOCKED_OUT = "login_locked_out", "Sign-in locked out"
        LOGIN_UNLOCKED = "login_unlocked", "Sign-in unlocked"
        PASSWORD_CHANGED = "password_changed", "Password changed"
        AUDIT_EXPORTED = "audit_exported", "Audit trail exported"
        INTEGRATION_CREATED = "integration_created", "Integration created"
        INTEGRATION_CHANGED = "integration_changed", "Integration changed"
        INTEGRATION_DELETED = "integration_deleted", "Integration deleted"
        METADATA_LABEL_CHANGED = "metadata_label_changed", "Metadata labels changed"
        INGESTION_FINISHED = "ingestion_finished", "Ingestion run finished"
        SOURCE_RECORDING_DELETED = "source_recording_deleted", "Source recording deleted at the ACD"
        MATTER_CREATED = "matter_created", "Legal matter created"
        MATTER_CHANGED = "matter_changed", "Legal matter changed"
        MATTER_CLOSED = "matter_closed", "Legal matter closed"
        LOCK_EXPIRY_NOTICE_SENT = "lock_expiry_notice_sent", "Lock expiry notice sent"
        REQUEST_APPROVED = "request_approved", "Request approved"
        REQUEST_REJECTED = "request_rejected", "Request rejected"
        POLICY_CHANGE_PROPOSED = "policy_change_proposed", "Lifecycle policy change awaiting approval"
        POLICY_CHANGE_APPROVED = "policy_change_approved", "Lifecycle policy change approved"
        POLICY_CHANGE_REJECTED = "policy_change_rejected", "Lifecycle policy change rejected"
        EXPORT_CREATED = "export_created", "Export created"
        EXPORT_COMPLETED = "export_completed", "Export completed"
        EXPORT_FAILED = "export_failed", "Export failed"
        EXPORT_DOWNLOADED = "export_downloaded", "Export downloaded"
        EXPORT_EXPIRED = "export_expired", "Export expired"
        EXPORT_SCHEDULE_CREATED = "export_schedule_created", "Export schedule created"
        EXPORT_SCHEDULE_CHANGED = "export_schedule_changed", "Export schedule changed"
        EXPORT_RETRIED = "export_retried", "Export retried"
        EXPORT_BUCKET_CREATED = "export_bucket_created", "Export bucket added"
        EXPORT_BUCKET_CHANGED = "export_bucket_changed", "Export bucket changed"
        EXPORT_BUCKET_REMOVED = "export_bucket_removed", "Export bucket removed"

    id = models.BigAutoField(primary_key=True)
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="audit_events")
    kind = models.CharField(max_length=40, choices=Kind.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=200, help_text="Who acted: user name, policy, API client, system.")
    actor_kind = models.CharField(
        max_length=20, blank=True, help_text="user, api_client, ingestion, command, system, visitor."
    )
    actor_key = models.CharField(
        "actor id", max_length=100, blank=True, help_text="The actor's id: user id, client id, command, job."
    )
    source = models.CharField(max_length=10, blank=True, help_text="web, api, command, admin or job.")
    remote_addr = models.GenericIPAddressField("remote address", null=True, blank=True, unpack_ipv4=True)
    interaction_guid = models.UUIDField(null=True, blank=True, db_index=True)
    artifact_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    request_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    reason = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    seq = models.PositiveBigIntegerField("sequence number", editable=False, help_text="1, 2, 3 ... per tenant.")
    prev_hash = models.CharField("previous hash", max_length=64, editable=False)
    hash = models.CharField(max_length=64, editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["tenant", "-occurred_at"], name="audit_tenant_time")]
        constraints = [models.UniqueConstraint(fields=["tenant", "seq"], name="audit_unique_seq_per_tenant")]

    def __str__(self):
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.get_kind_display()} by {self.actor_label}"

    def save(self, *args, **kwargs):
        """A new event is appended to its tenant's chain (through :func:`accounts.audit.append`)."""
        if not self._state.adding:
            raise PermissionError("Audit events are append-only; they cannot be changed.")
        from .chain import append_instance

        append_instance(self)

    def delete(self, *args, **kwargs):
        raise PermissionError("Audit events are append-only; they cannot be deleted.")


class AuditChainHead(models.Model):
    """The last ``seq`` and ``hash`` of a tenant's audit chain: the row every append locks, so that
    appends to one tenant's trail are serialized (one lock per batch, not per event)."""

    tenant = models.OneToOneField(Tenant, on_delete=models.PROTECT, primary_key=True, related_name="audit_head")
    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self):
        return f"{self.tenant_id}: {self.seq}"


class AuditCheckpoint(models.Model):
    """A signed statement of a tenant's chain head at a moment (Ed25519, key outside the database).

    Append-only like the events (a PostgreSQL trigger refuses UPDATE, DELETE and TRUNCATE); copies
    go to ``AUDIT_CHECKPOINT_STORAGE`` when configured, so that a truncated tail is found even when
    these rows are removed with it.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="audit_checkpoints")
    seq = models.PositiveBigIntegerField()
    hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    signature = models.CharField(max_length=100, help_text="Ed25519 signature, base64.")
    key_fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the raw public key, hex.")
    stored_as = models.CharField(
        max_length=300, blank=True, help_text="Name of the copy in AUDIT_CHECKPOINT_STORAGE (empty: none)."
    )

    class Meta:
        ordering = ["tenant", "-seq"]
        constraints = [models.UniqueConstraint(fields=["tenant", "seq"], name="checkpoint_unique_seq_per_tenant")]

    def __str__(self):
        return f"{self.tenant_id} @ {self.seq}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("Audit checkpoints are append-only; they cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Audit checkpoints are append-only; they cannot be deleted.")


class AuditVerification(models.Model):
    """One run of the chain verification for a tenant (``verify_audit`` or the hourly job)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="audit_verifications")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    from_seq = models.PositiveBigIntegerField(default=1)
    to_seq = models.PositiveBigIntegerField(default=0)
    events = models.PositiveBigIntegerField(default=0)
    checkpoints = models.PositiveIntegerField(default=0)
    ok = models.BooleanField()
    break_kind = models.CharField(max_length=40, blank=True)
    break_seq = models.PositiveBigIntegerField(null=True, blank=True)
    message = models.TextField(blank=True)
    source = models.CharField(max_length=10, help_text="command or job.")

    class Meta:
        ordering = ["tenant", "-finished_at"]
        indexes = [models.Index(fields=["tenant", "-finished_at"], name="verification_tenant_time")]

    def __str__(self):
        return f"{self.tenant_id} {'intact' if self.ok else self.break_kind} at {self.finished_at}"
