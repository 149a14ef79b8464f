"""Who acts: a user, an API client, an ingestion source, an operator command, a system job, or a
visitor who is not signed in (sign-in attempts, password-reset requests).

Every service takes an :class:`Actor` and the ids of what it changes, and derives *itself* what
the actor may do on the tenant of that row (:meth:`Actor.require`); nobody hands permissions in.
The actor also says where the call came from (:class:`Source`: web, API, command, admin, job) and,
for web and API calls, the remote address; the audit trail records all of it.

- A **user**'s grants are their django-guardian object permissions on the tenant (through their
  roles), read once per tenant and actor; an inactive user holds nothing; an active superuser
  (support staff) holds every tenant permission and the support capabilities.
- Every other kind holds an explicit set of grants, optionally bound to one tenant (an API client
  or an ingestion source never reaches another tenant).

Background work stores a reference to the actor it acts for (:meth:`Actor.ref`) and rebuilds it
when it runs (:func:`restore`), so the work runs with the grants that actor holds *then*: a queued
Delete whose creator has since left the tenant is refused instead of deleting.
"""

from dataclasses import dataclass, field, replace

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import models

from .permissions import ALL_GRANTS, MANAGE_TENANTS, PERMISSION_NAMES, PERMISSION_PLAIN


class Source(models.TextChoices):
    """Where an action came from."""

    WEB = "web", "Web"
    API = "api", "API"
    COMMAND = "command", "Command"
    ADMIN = "admin", "Admin"
    JOB = "job", "Background job"


class ActorKind(models.TextChoices):
    """What kind of actor acted."""

    USER = "user", "User"
    API_CLIENT = "api_client", "API client"
    INGESTION = "ingestion", "Ingestion source"
    COMMAND = "command", "Operator command"
    SYSTEM = "system", "System job"
    VISITOR = "visitor", "Visitor (not signed in)"


def _tenant_id(tenant):
    return getattr(tenant, "pk", tenant)


def user_grants(user, tenant):
    """The codenames ``user`` holds on ``tenant`` (a Tenant or its id; one query; everything for
    active superusers)."""
    tenant_id = _tenant_id(tenant)
    if user is None or not user.is_active:
        return frozenset()
    if user.is_superuser:
        return ALL_GRANTS
    from .models import TenantGroupObjectPermission, TenantUserObjectPermission

    through_roles = TenantGroupObjectPermission.objects.filter(group__user=user, content_object_id=tenant_id)
    direct = TenantUserObjectPermission.objects.filter(user=user, content_object_id=tenant_id)
    return frozenset(
        through_roles.values_list("permission__codename", flat=True).union(
            direct.values_list("permission__codename", flat=True)
        )
    )


def user_grants_by_tenant(user):
    """Every tenant where ``user`` (active, not a superuser) holds a grant, in one query:
    ``({tenant id: frozenset of codenames}, {tenant id: Tenant})``.

    A page needs its tenant, the grants there and, for the header's tenant switcher, the tenants
    where the user may view interactions: one statement for the three instead of one each. The
    user's roles are read from the user-groups table directly (joining ``auth_group`` as well made
    the statement cost more to plan than to run).
    """
    from .models import Tenant, TenantGroupObjectPermission, TenantUserObjectPermission

    fields = [f.attname for f in Tenant._meta.concrete_fields]
    columns = ("permission__codename", *(f"content_object__{name}" for name in fields))
    roles = user._meta.model.groups.through.objects.filter(user_id=user.pk).values("group_id")
    through_roles = TenantGroupObjectPermission.objects.filter(group_id__in=roles).values_list(*columns)
    direct = TenantUserObjectPermission.objects.filter(user=user).values_list(*columns)
    perms, tenants = {}, {}
    for codename, *values in through_roles.union(direct, all=True):
        tenant_id = values[0]
        perms.setdefault(tenant_id, set()).add(codename)
        if tenant_id not in tenants:
            tenants[tenant_id] = Tenant.from_db(Tenant.objects.db, fields, values)
    return {tenant_id: frozenset(codenames) for tenant_id, codenames in perms.items()}, tenants


def plain_names(missing):
    """Permissions in plain words with their codename: “View the audit trail” (VIEW_AUDIT)."""
    code = {m: PERMISSION_NAMES.get(m, m.upper()) for m in missing}
    named = (f"“{PERMISSION_PLAIN[m]}” ({code[m]})" if m in PERMISSION_PLAIN else code[m] for m in missing)
    return ", ".join(sorted(named))


def missing_names(missing):
    """Permission codenames as the product names them (``ARTIFACTS_MANAGEMENT_DELETE_REQUESTS`` ...)."""
    return ", ".join(sorted(PERMISSION_NAMES.get(m, m.upper()) for m in missing))


@dataclass(eq=False)
class Actor:
    """One acting party and where it acted from. Build them with the functions below."""

    kind: str
    key: str
    label: str
    source: str
    remote_addr: str | None = None
    user: object = None
    grants: frozenset = frozenset()
    tenant_id: int | None = None
    _perms: dict = field(default_factory=dict, repr=False)
    #: A user's tenants (id -> Tenant) once their grants are read; None before.
    _tenants: dict | None = field(default=None, repr=False)

    def __str__(self):
        return self.label

    # --- grants ---------------------------------------------------------------------------------
    def perms_on(self, tenant):
        """The permission codenames this actor holds on ``tenant`` (a Tenant or its id) now."""
        tenant_id = _tenant_id(tenant)
        if tenant_id not in self._perms:
            if self.kind == ActorKind.USER and self._plain_user():
                self._read_user_grants()
                return self._perms.get(tenant_id, frozenset())
            if self.kind == ActorKind.USER:
                self._perms[tenant_id] = user_grants(self.user, tenant_id)
            elif self.tenant_id is None or self.tenant_id == tenant_id:
                self._perms[tenant_id] = frozenset(self.grants)
            else:
                self._perms[tenant_id] = frozenset()
        return self._perms[tenant_id]

    def _read_user_grants(self):
        """Every tenant's grants at once, with the tenants (see :func:`user_grants_by_tenant`)."""
        if self._tenants is None:
            perms, self._tenants = user_grants_by_tenant(self.user)
            self._perms.update(perms)

    def _plain_user(self):
        """An active user who is not a superuser: grants come from roles (one query per actor)."""
        return self.user is not None and self.user.is_active and not self.user.is_superuser

    def tenants_with(self, perm):
        """The tenants where this user actor holds ``perm``, from
        the grants already read with :meth:`perms_on` (no query); None when they are not at hand
        (other actors, superusers, grants not read yet): ask the database then."""
        if self.kind != ActorKind.USER or not self._plain_user() or self._tenants is None:
            return None
        return [tenant for tenant_id, tenant in sorted(self._tenants.items()) if perm in self._perms.get(tenant_id, ())]

    def granted_tenant(self, slug):
        """The tenant ``slug`` names, as read with this user actor's grants (no query), when the
        actor holds a grant there; None otherwise (other actors, superusers, grants not read yet,
        no grant there): ask the database then."""
        if self.kind != ActorKind.USER or not self._plain_user():
            return None
        self._read_user_grants()
        return next((tenant for tenant in self._tenants.values() if tenant.slug == slug), None)

    def forget_grants(self):
        """Drop the grants read so far (after a change of this actor's own roles)."""
        self._perms.clear()
        self._tenants = None

    def may(self, tenant, *perms):
        """Whether the actor holds every one of ``perms`` on ``tenant``."""
        return set(perms) <= self.perms_on(tenant)

    def require(self, tenant, *perms, doing="do this"):
        """Raise ``PermissionDenied`` naming the missing permissions unless the actor holds them."""
        missing = set(perms) - self.perms_on(tenant)
        if missing:
            raise PermissionDenied(f"{self.label} may not {doing}: it needs {missing_names(missing)}.")

    @property
    def is_support(self):
        """Support staff, operators and the system: may change tenants themselves."""
        if self.kind == ActorKind.USER:
            return bool(self.user and self.user.is_active and self.user.is_superuser)
        return MANAGE_TENANTS in self.grants and self.tenant_id is None

    def require_support(self, doing="do this"):
        """Raise ``PermissionDenied`` unless the actor is support staff, an operator or the system."""
        if not self.is_support:
            raise PermissionDenied(f"{self.label} may not {doing}: only support staff may.")

    # --- references and audit -------------------------------------------------------------------
    def ref(self):
        """The columns a job row keeps to act for this actor later (see :func:`restore`)."""
        return {"actor_kind": self.kind, "actor_key": self.key, "actor_label": self.label[:200]}

    def audit_columns(self):
        """The audit trail's columns that name this actor and where it acted from."""
        return {
            "actor_user_id": getattr(self.user, "pk", None) if self.kind == ActorKind.USER else None,
            "actor_label": self.label[:200],
            "actor_kind": self.kind,
            "actor_key": self.key[:100],
            "source": self.source,
            "remote_addr": self.remote_addr,
        }

    def via(self, source, remote_addr=None):
        """The same actor acting from another source (its grants are read again)."""
        return replace(self, source=source, remote_addr=remote_addr, _perms={}, _tenants=None)


# --- building actors ------------------------------------------------------------------------------
def user_actor(user, source=Source.WEB, remote_addr=None):
    """A signed-in person (web, admin, or an operator command run ``--user`` them)."""
    return Actor(
        kind=ActorKind.USER,
        key=str(user.pk),
        label=user.get_username(),
        source=source,
        remote_addr=remote_addr,
        user=user,
    )


def client_address(request):
    """The caller's address: ``REMOTE_ADDR``, or behind a trusted proxy the last forwarded hop."""
    if getattr(settings, "BEHIND_PROXY", False):
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if forwarded:
            return forwarded[-1][:45]
    return (request.META.get("REMOTE_ADDR") or None) and request.META["REMOTE_ADDR"][:45]


def request_actor(request, source=Source.WEB):
    """The actor of an HTTP request (kept on the request, so grants are read once per tenant)."""
    cache = request.__dict__.setdefault("_holdfast_actors", {})
    if source not in cache:
        cache[source] = user_actor(request.user, source, client_address(request))
    return cache[source]


def visitor(request, source=Source.WEB):
    """Someone not signed in (a sign-in attempt, a password-reset request), at the request's
    address: holds no grant on any tenant."""
    return Actor(
        kind=ActorKind.VISITOR,
        key="",
        label="visitor (not signed in)",
        source=source,
        remote_addr=client_address(request),
    )


def operator(command, *, user=None):
    """An operator's management command: trusted like the shell it runs in (every grant).

    With ``user`` the command acts as that user instead, with that user's grants.
    """
    if user is not None:
        return user_actor(user, Source.COMMAND)
    return Actor(kind=ActorKind.COMMAND, key=command[:100], label=command, source=Source.COMMAND, grants=ALL_GRANTS)


_SYSTEM_ACTORS = {}


def system_actor(key, label, grants, *, tenant_id=None, register=True):
    """A system job (sweep, schedule, reaper, a lifecycle policy) with explicit ``grants``.

    Registered system actors can be restored by key when a job acting for them runs.
    """
    actor = Actor(
        kind=ActorKind.SYSTEM,
        key=key,
        label=label,
        source=Source.JOB,
        grants=frozenset(grants),
        tenant_id=tenant_id,
    )
    if register:
        _SYSTEM_ACTORS[key] = actor
    return actor


# --- restoring the actor a job acts for ---------------------------------------------------------
_RESOLVERS = {}


def register_actor_kind(kind, resolver):
    """Let an app restore actors of ``kind``: ``resolver(key, label) -> Actor`` (apps above
    accounts register theirs in ``AppConfig.ready``, e.g. API clients)."""
    _RESOLVERS[kind] = resolver


def _restore_user(key, label):
    from .models import User

    user = User.objects.filter(pk=key).first() if str(key).isdigit() else None
    if user is None:
        # The user is gone: an actor that holds nothing, under the name the job recorded.
        return Actor(kind=ActorKind.USER, key=str(key), label=label, source=Source.JOB)
    return user_actor(user, Source.JOB)


def _restore_command(key, label):
    return Actor(kind=ActorKind.COMMAND, key=key, label=label, source=Source.JOB, grants=ALL_GRANTS)


def _restore_system(key, label):
    known = _SYSTEM_ACTORS.get(key)
    if known is None:
        return Actor(kind=ActorKind.SYSTEM, key=key, label=label, source=Source.JOB)
    return known.via(Source.JOB)


register_actor_kind(ActorKind.USER, _restore_user)
register_actor_kind(ActorKind.COMMAND, _restore_command)
register_actor_kind(ActorKind.SYSTEM, _restore_system)


def restore(actor_kind, actor_key, actor_label):
    """The actor a job row refers to, with the grants it holds now (nothing when it is unknown)."""
    resolver = _RESOLVERS.get(actor_kind)
    if resolver is None:
        return Actor(kind=actor_kind or ActorKind.SYSTEM, key=actor_key, label=actor_label, source=Source.JOB)
    actor = resolver(actor_key, actor_label)
    return actor if actor.source == Source.JOB else actor.via(Source.JOB)


def acting_for(row):
    """The actor a job row (with the :meth:`Actor.ref` columns) acts for, as of now."""
    return restore(row.actor_kind, row.actor_key, row.actor_label)
