"""State changes of tenants, roles and memberships, and the audit of sign-in lockouts, unlocks and
password changes. Views, admin and commands call these only.

Each function takes an :class:`~accounts.actors.Actor`, derives what it may do on the tenant of the
row it changes (``MANAGE_MEMBERS`` for roles and members; support staff for tenants and unlocks), runs in one
transaction, keeps the guardian grants in step with the change, and writes its audit event. Rules a
demanding administrator expects are enforced here, not in views: a tenant always keeps at least one
member who can manage members, a role belongs to one tenant only, and nobody grants a permission
they do not hold themselves (no escalation through roles). Administrators bring people in by
email (:func:`invite_member`), never by attaching an account that exists elsewhere: that is
support's job (:func:`add_member`).
"""

import re
import secrets
import uuid

from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from . import audit
from .actors import ActorKind, missing_names
from .invitations import send_invitation
from .models import AuditEvent, Invitation, Membership, Role, Tenant, TenantGroupObjectPermission
from .permissions import DEFAULT_ROLES, MANAGE_MEMBERS, TENANT_PERMISSION_CODENAMES
from .signals import tenant_created, tenant_region_changing

User = get_user_model()


def tenant_permissions(codenames):
    """The ``Permission`` rows for tenant permission codenames (unknown codenames are an error)."""
    unknown = set(codenames) - set(TENANT_PERMISSION_CODENAMES)
    if unknown:
        raise ValidationError({"permissions": f"Unknown permission(s): {', '.join(sorted(unknown))}."})
    return Permission.objects.filter(content_type__app_label="accounts", codename__in=codenames)


def _set_group_grants(role, codenames):
    """Make the role group's guardian rows on its tenant exactly ``codenames``."""
    wanted = {p.codename: p for p in tenant_permissions(codenames)}
    rows = TenantGroupObjectPermission.objects.filter(group_id=role.group_id, content_object_id=role.tenant_id)
    rows.exclude(permission__codename__in=wanted).delete()
    have = set(rows.values_list("permission__codename", flat=True))
    TenantGroupObjectPermission.objects.bulk_create(
        TenantGroupObjectPermission(group_id=role.group_id, content_object_id=role.tenant_id, permission=perm)
        for codename, perm in wanted.items()
        if codename not in have
    )


def _ensure_member_manager_remains(tenant_id):
    """Refuse a change that would leave the tenant with nobody able to manage its members."""
    managers = (
        Membership.objects.filter(
            tenant_id=tenant_id,
            user__is_active=True,
            # Someone invited who has not joined yet cannot manage anything.
        )
        .exclude(user_id__in=pending_invitees(tenant_id))
        .filter(
            role__group__tenantgroupobjectpermission__content_object_id=tenant_id,
            role__group__tenantgroupobjectpermission__permission__codename=MANAGE_MEMBERS,
        )
    )
    if not managers.exists():
        raise ValidationError("This change would leave the tenant without any member who can manage users and roles.")


def _require_manager(actor, tenant_id, doing):
    actor.require(tenant_id, MANAGE_MEMBERS, doing=doing)


def _require_grantable(actor, tenant_id, codenames, doing):
    """Nobody hands out a permission they do not hold themselves on the tenant."""
    beyond = (set(codenames) & set(TENANT_PERMISSION_CODENAMES)) - actor.perms_on(tenant_id)
    if beyond:
        raise PermissionDenied(
            f"{actor.label} may not {doing}: it would grant {missing_names(beyond)}, which they do not hold."
        )


@transaction.atomic
def create_role(tenant_id, name, codenames, actor):
    """Create a role (and its group) in a tenant with the given permissions."""
    _require_manager(actor, tenant_id, "create roles")
    _require_grantable(actor, tenant_id, codenames, "create this role")
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Enter a role name."})
    if Role.objects.filter(tenant_id=tenant_id, name__iexact=name).exists():
        raise ValidationError({"name": f"A role named “{name}” already exists in this tenant."})
    # The group is an implementation detail of the role: a unique, never-shown name.
    group = Group.objects.create(name=f"tenant-{tenant_id}-role-{uuid.uuid4().hex}")
    role = Role.objects.create(tenant_id=tenant_id, name=name, group=group)
    _set_group_grants(role, codenames)
    audit.record(tenant_id, AuditEvent.Kind.ROLE_CREATED, actor, role=name, permissions=sorted(codenames))
    return role


@transaction.atomic
def set_role_permissions(role_id, codenames, actor):
    """Replace a role's permissions; every member of the role is affected at once."""
    role = Role.objects.select_for_update(no_key=True).get(pk=role_id)
    _require_manager(actor, role.tenant_id, "edit roles")
    before = role.permission_codenames
    after = set(codenames)
    _require_grantable(actor, role.tenant_id, after - before, "change this role")
    _set_group_grants(role, after)
    if MANAGE_MEMBERS in before - after:
        _ensure_member_manager_remains(role.tenant_id)
    if before != after:
        audit.record(
            role.tenant_id,
            AuditEvent.Kind.ROLE_PERMISSIONS_CHANGED,
            actor,
            role=role.name,
            added=sorted(after - before),
            removed=sorted(before - after),
        )
    return role


TENANT_FIELDS = (
    "name",
    "time_zone",
    "locked_interactions_limit",
    "storage_region",
    "sweeps_start_on",
    "matter_required_for_locks",
    "lock_expiry_notice_days",
    "require_approval",
    "require_policy_approval",
    "export_retention_days",
)


@transaction.atomic
def create_tenant(name, slug, *, time_zone="UTC", actor, **fields):
    """Create a tenant (support staff and operators) with the default roles (Viewer, Supervisor,
    Compliance Officer, Administrator) and what other apps give a new tenant (``tenant_created``:
    the default lifecycle policies)."""
    actor.require_support("create tenants")
    tenant = Tenant(name=name, slug=slug, time_zone=time_zone, **fields)
    tenant.full_clean()
    tenant.save()
    audit.record(
        tenant.pk,
        AuditEvent.Kind.TENANT_CREATED,
        actor,
        reason=tenant.name,
        **{field: _plain(getattr(tenant, field)) for field in ("slug", *TENANT_FIELDS)},
    )
    for role_name, codenames in DEFAULT_ROLES.items():
        create_role(tenant.pk, role_name, codenames, actor)
    tenant_created.send(sender=Tenant, tenant=tenant, actor=actor)
    return tenant


def _plain(value):
    """A setting as the audit trail's JSON keeps it (dates as ISO text)."""
    return value.isoformat() if hasattr(value, "isoformat") else value


@transaction.atomic
def update_tenant(tenant_id, actor, **fields):
    """Change a tenant's settings (support staff and operators): name, time zone, lock limit,
    storage region. The slug is in every URL and never changes. Returns the tenant.

    Lowering the lock limit below the interactions locked now keeps every lock; new locks are
    refused until the count is under the limit again.
    """
    actor.require_support("change tenant settings")
    # NO KEY: every audit append takes KEY SHARE on the tenant row after locking the chain head; a
    # full row lock here would deadlock with it (tests/accounts/test_row_lock_order.py).
    tenant = Tenant.objects.select_for_update(no_key=True).get(pk=tenant_id)
    before = {field: getattr(tenant, field) for field in TENANT_FIELDS}
    for field, value in fields.items():
        if field not in TENANT_FIELDS:
            raise ValidationError({field: "This tenant setting cannot be changed here."})
        setattr(tenant, field, value)
    tenant.full_clean()
    changed = {
        field: [_plain(before[field]), _plain(getattr(tenant, field))]
        for field in TENANT_FIELDS
        if before[field] != getattr(tenant, field)
    }
    if "storage_region" in changed:
        _require_no_content(tenant, before["storage_region"])
    if changed:
        tenant.save(update_fields=list(changed))
        audit.record(tenant.pk, AuditEvent.Kind.TENANT_CHANGED, actor, reason=tenant.name, changed=changed)
    return tenant


def _require_no_content(tenant, old_region):
    """Refuse a region change while the tenant holds content (its bytes would stay in the old region,
    out of reach): the apps holding bytes answer ``tenant_region_changing``. The tenant's row is
    locked, so no upload can begin until this transaction ends."""
    new_region, tenant.storage_region = tenant.storage_region, old_region
    try:
        reasons = [reason for _receiver, reason in tenant_region_changing.send(Tenant, tenant=tenant, region=new_region)
                   if reason]  # fmt: skip
    finally:
        tenant.storage_region = new_region
    if reasons:
        raise ValidationError(
            {
                "storage_region": f"The storage region of {tenant.name} cannot change from {old_region} to "
                f"{new_region}: {'; '.join(reasons)}. Its content stays in the region it was stored in; a "
                "tenant's region can only change while it holds no content."
            }
        )


def _role_of_tenant(role_id, tenant_id):
    try:
        return Role.objects.get(pk=role_id, tenant_id=tenant_id)
    except (Role.DoesNotExist, ValueError, TypeError):
        raise ValidationError({"role": "Choose a role of this tenant."}) from None


def pending_invitees(tenant_id):
    """Ids of the accounts invited into the tenant that have not joined yet (a subquery)."""
    return Invitation.objects.pending().filter(tenant_id=tenant_id, user__isnull=False).values("user_id")


def _answer_invitations(invitations):
    """Mark the pending ``invitations`` accepted (under their row locks); returns them."""
    answered = list(invitations.select_for_update(no_key=True, of=("self",)).select_related("role"))
    for invitation in answered:
        invitation.accepted_at = timezone.now()
        invitation.save(update_fields=["accepted_at"])
    return answered


@transaction.atomic
def add_member(tenant_id, *, username, role_id, actor, email="", password=None):
    """Attach an account to a tenant by user name, with a role (support staff, operators, seeding);
    creates the account when the name is new.

    Tenant administrators invite by email instead (:func:`invite_member`): attaching an account by
    its name would let them pull in, and then see, people of other tenants. A new user needs an
    initial ``password`` (validated by Django's password validators); an existing user keeps theirs.
    A pending invitation of the tenant to the account's email address is accepted by this.
    """
    actor.require_support("attach an account to a tenant by its user name")
    _require_manager(actor, tenant_id, "add members")
    username = (username or "").strip()
    if not username:
        raise ValidationError({"username": "Enter a user name."})
    role = _role_of_tenant(role_id, tenant_id)
    _require_grantable(actor, tenant_id, role.permission_codenames, f"give the role {role.name}")
    user = User.objects.filter(username=username).first()
    if user is None:
        if not password:
            raise ValidationError({"password": f"“{username}” is a new user: set an initial password."})
        user = User(username=username, email=(email or "").strip())
        user.full_clean(exclude=["password"])
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise ValidationError({"password": exc.messages}) from None
        user.set_password(password)
        user.save()
    elif Membership.objects.filter(user=user, tenant_id=tenant_id).exists():
        raise ValidationError({"username": f"“{username}” is already a member of this tenant."})
    membership = Membership.objects.create(user=user, tenant_id=tenant_id, role=role)
    user.groups.add(role.group)
    audit.record(tenant_id, AuditEvent.Kind.MEMBER_ADDED, actor, member=user.username, role=role.name)
    if user.email:
        # Support linked the existing account an invitation was waiting for: it is answered.
        _answer_invitations(Invitation.objects.pending().filter(tenant_id=tenant_id, email__iexact=user.email))
    return membership


def _clean_email(email):
    email = User.objects.normalize_email((email or "").strip())
    if not email:
        raise ValidationError({"email": "Enter the email address of the person to invite."})
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({"email": f"“{email}” is not a valid email address."}) from None
    return email


def _username_for(email):
    """A free user name for a new account: the address itself where it is a valid, free name."""
    name = re.sub(r"[^\w.@+-]", "-", email.lower())
    if len(name) <= 150 and not User.objects.filter(username__iexact=name).exists():
        return name
    return f"{name.split('@')[0][:100]}-{secrets.token_hex(4)}"


def _invited_account(email, tenant, role):
    """The new account for an invited address, already a member of ``tenant`` with ``role``; or
    ``None`` when an account elsewhere uses the address (or, meanwhile, another invitation created
    one for it).

    Both cases do the same database work: for an address in use the account and its membership
    are created in a savepoint that is then rolled back. So the time an invitation takes does not
    tell the inviting tenant whether the address has an account somewhere.
    """
    taken = User.objects.filter(email__iexact=email).exists()
    try:
        with transaction.atomic():
            user = User(username=_username_for(email), email=email)
            user.set_unusable_password()
            user.save()
            Membership.objects.create(user=user, tenant=tenant, role=role)
            user.groups.add(role.group)
            if taken:
                transaction.set_rollback(True)
    except IntegrityError:
        return None
    return None if taken else user


@transaction.atomic
def invite_member(tenant_id, *, email, role_id, actor, site_url):
    """Invite the person at ``email`` into the tenant with a role; returns the :class:`Invitation`.

    - a member of the tenant already has this address → ``ValidationError`` on ``email``;
    - the address is already invited here and has not joined → the invitation is sent again (with
      its first role);
    - no account uses the address → an account is created (user name from the address, no usable
      password), it becomes a member with the role, and the email carries its set-password link;
      the person shows as a member once they have set it (:func:`accept_invitation`);
    - an account elsewhere uses the address → it is **not** attached and nothing of it is shown:
      the invitation stays pending, and the email tells its owner to ask for their existing
      account to be linked (support does, with ``add_member``).

    The last two give the caller the same result, the same pending row and the same audit event
    (``MEMBER_INVITED`` with the address and role), run the same SQL statements (see
    :func:`_invited_account`) and send one email; so nothing a tenant can see, nor how long it
    takes, tells whether an address has an account somewhere. ``site_url`` is the site's root,
    for the link. The email goes out inside the transaction: when the mail server refuses it,
    nothing is saved.
    """
    _require_manager(actor, tenant_id, "invite members")
    email = _clean_email(email)
    role = _role_of_tenant(role_id, tenant_id)
    _require_grantable(actor, tenant_id, role.permission_codenames, f"give the role {role.name}")
    # One invitation at a time per tenant: two administrators inviting one address make one row.
    tenant = Tenant.objects.select_for_update(no_key=True).get(pk=tenant_id)  # NO KEY: as update_tenant
    invitation = Invitation.objects.pending().filter(tenant=tenant, email__iexact=email).first()
    if invitation is None:
        members = Membership.objects.filter(tenant=tenant, user__email__iexact=email)
        if members.exists():
            raise ValidationError({"email": f"{email} is already a member of this tenant."})
        user = _invited_account(email, tenant, role)
        invitation = Invitation.objects.create(
            tenant=tenant, email=email, role=role, user=user, invited_by=actor.label[:200], sent_at=timezone.now()
        )
    else:
        invitation.sent_at = timezone.now()
        invitation.save(update_fields=["sent_at"])
    audit.record(tenant.pk, AuditEvent.Kind.MEMBER_INVITED, actor, email=invitation.email, role=invitation.role.name)
    send_invitation(invitation, tenant, site_url=site_url)
    return invitation


@transaction.atomic
def accept_invitation(user_id, password, actor):
    """The invited person sets their password (through the emailed link) and so joins every tenant
    whose invitation created their account. ``actor`` is that person: the invitation itself,
    checked when it was made, is the grant. Returns the user."""
    user = User.objects.select_for_update(no_key=True).get(pk=user_id)
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"new_password1": exc.messages}) from None
    user.set_password(password)
    user.save(update_fields=["password"])
    for invitation in _answer_invitations(Invitation.objects.pending().filter(user=user)):
        audit.record(
            invitation.tenant_id,
            AuditEvent.Kind.MEMBER_ADDED,
            actor,
            member=user.username,
            role=invitation.role.name,
            invitation=invitation.pk,
        )
    return user


@transaction.atomic
def change_member_role(membership_id, role_id, actor):
    """Move a member to another role of the same tenant; their grants follow immediately."""
    membership = (
        Membership.objects.select_for_update(no_key=True, of=("self",))
        .select_related("role", "user")
        .get(pk=membership_id)
    )
    _require_manager(actor, membership.tenant_id, "change members' roles")
    new_role = _role_of_tenant(role_id, membership.tenant_id)
    _require_grantable(actor, membership.tenant_id, new_role.permission_codenames, f"give the role {new_role.name}")
    old_role = membership.role
    if new_role.pk == old_role.pk:
        return membership
    membership.user.groups.remove(old_role.group)
    membership.user.groups.add(new_role.group)
    membership.role = new_role
    membership.save(update_fields=["role"])
    if MANAGE_MEMBERS in old_role.permission_codenames:
        _ensure_member_manager_remains(membership.tenant_id)
    audit.record(
        membership.tenant_id,
        AuditEvent.Kind.MEMBER_ROLE_CHANGED,
        actor,
        member=membership.user.username,
        old_role=old_role.name,
        new_role=new_role.name,
    )
    return membership


@transaction.atomic
def remove_member(membership_id, actor):
    """Remove a user from a tenant; they lose every grant there at once."""
    membership = (
        Membership.objects.select_for_update(no_key=True, of=("self",))
        .select_related("role", "user")
        .get(pk=membership_id)
    )
    _require_manager(actor, membership.tenant_id, "remove members")
    membership.user.groups.remove(membership.role.group)
    tenant_id, username, role_name = membership.tenant_id, membership.user.username, membership.role.name
    was_manager = MANAGE_MEMBERS in membership.role.permission_codenames
    membership.delete()
    if was_manager:
        _ensure_member_manager_remains(tenant_id)
    audit.record(tenant_id, AuditEvent.Kind.MEMBER_REMOVED, actor, member=username, role=role_name)


def _tenants_of_username(username):
    """Ids of the tenants the user called ``username`` is a member of (none for an unknown name)."""
    return list(
        Membership.objects.filter(user__username=username).order_by("tenant_id").values_list("tenant_id", flat=True)
    )


@transaction.atomic
def record_login_lockout(username, actor, *, failures, cool_off):
    """Record that sign-ins as ``username`` from the actor's address are locked out for
    ``cool_off`` (a timedelta) after ``failures`` failures: one ``LOGIN_LOCKED_OUT`` event in each
    tenant the user is a member of, nothing for a name that does not exist (the trail belongs to
    tenants).

    No grant is needed: the actor is whoever tried to sign in (a visitor); this records what
    happened to the attempt, it changes nothing. Returns the events.
    """
    until = timezone.now() + cool_off
    return [
        audit.record(
            tenant_id,
            AuditEvent.Kind.LOGIN_LOCKED_OUT,
            actor,
            reason=f"{failures} failed sign-ins",
            username=username,
            failures=failures,
            cool_off_minutes=round(cool_off.total_seconds() / 60),
            locked_until=until.isoformat(),
        )
        for tenant_id in _tenants_of_username(username)
    ]


@transaction.atomic
def unlock_sign_ins(attempt_ids, actor):
    """Lift sign-in lockouts (support staff): for each django-axes attempt in ``attempt_ids``, forget
    every failed sign-in of its user name from its address, and record ``LOGIN_UNLOCKED`` in each
    tenant the user is a member of. Returns the ``(username, address)`` pairs unlocked."""
    actor.require_support("unlock sign-ins")
    pairs = sorted(
        set(
            AccessAttempt.objects.select_for_update(no_key=True)
            .filter(pk__in=attempt_ids)
            .values_list("username", "ip_address")
        ),
        key=lambda pair: (pair[0] or "", pair[1] or ""),
    )
    for username, address in pairs:
        attempts = AccessAttempt.objects.filter(username=username, ip_address=address)
        failures = sum(attempts.values_list("failures_since_start", flat=True))
        attempts.delete()
        for tenant_id in _tenants_of_username(username):
            audit.record(
                tenant_id,
                AuditEvent.Kind.LOGIN_UNLOCKED,
                actor,
                reason="Unlocked by support",
                username=username,
                address=address,
                failures=failures,
            )
    return pairs


@transaction.atomic
def record_password_change(user_id, actor, *, how="changed"):
    """Record that user ``user_id``'s password was changed (``how``: "changed" by the user,
    "reset" through an emailed link, "set by support"): one ``PASSWORD_CHANGED`` event in each
    tenant the user is a member of. The password itself is set by Django's forms, in the caller's
    transaction; this records it. The actor is that user (a reset link acts as them) or support
    staff. Returns the events."""
    user = User.objects.get(pk=user_id)
    if not (actor.kind == ActorKind.USER and actor.key == str(user.pk)):
        actor.require_support("record another user's password change")
    return [
        audit.record(
            tenant_id,
            AuditEvent.Kind.PASSWORD_CHANGED,
            actor,
            reason=f"Password {how}",
            username=user.username,
            how=how,
        )
        for tenant_id in _tenants_of_username(user.username)
    ]
