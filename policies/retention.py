"""The retention schedule as SQL: each artifact's archive and deletion date under a tenant's policies.

Dates are computed in the query, never stored: a policy edit changes every artifact's dates at
once, with no backfill to run or get wrong, and the page, the preview and the sweep all read the
same expressions. A tenant has a handful of policies, so the expressions are small ``CASE``
trees over the artifact's type and its interaction's channel, direction and origin.

Rules (see :class:`policies.models.LifecyclePolicy`):

- retention: the longest delete-after of the enabled policies selecting the artifact; keep forever
  beats any delete; when no selecting policy speaks about deletion, the default policy decides;
- archive: the earliest archive-after of the selecting policies, else the default policy's;
- an artifact is *due for deletion* when its deletion date has passed, and *due for archiving*
  when it is in active storage, its archive date has passed and it is not due for deletion.
  Locked artifacts are never touched (:meth:`artifacts.models.ArtifactQuerySet.not_locked`).
"""

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import (
    BooleanField,
    Case,
    DateTimeField,
    ExpressionWrapper,
    F,
    IntegerField,
    Min,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Coalesce, Greatest, Least, NullIf
from django.utils import timezone

from artifacts.models import Artifact, active_lock_exists
from core.vocabulary import PRESENT_STATES, ArtifactState

#: Retention of keep-forever, in days: larger than any real one, so "longest wins" is one GREATEST.
FOREVER = 10_000_000
#: "This policy says nothing about it" inside the expressions (never a real number of days).
UNSET = -1


@dataclass(frozen=True)
class Rule:
    """What one enabled policy says, detached from the database (the preview builds unsaved ones)."""

    policy_id: int | None
    name: str
    is_default: bool = False
    artifact_type: str = ""
    audio_recording_type: str = ""
    channel: str = ""
    direction: str = ""
    origin: str = ""
    archive_after_days: int | None = None
    delete_after_days: int | None = None
    keep_forever: bool = False
    require_export: bool = False

    @classmethod
    def of(cls, policy):
        """The rule of a :class:`~policies.models.LifecyclePolicy` (saved or not)."""
        return cls(
            policy_id=policy.pk,
            name=policy.name,
            is_default=policy.is_default,
            artifact_type=policy.artifact_type,
            audio_recording_type=policy.audio_recording_type,
            channel=policy.channel,
            direction=policy.direction,
            origin=policy.origin,
            archive_after_days=policy.archive_after_days,
            delete_after_days=policy.delete_after_days,
            keep_forever=policy.keep_forever,
            require_export=policy.require_export,
        )

    @property
    def retention_days(self):
        """Days until deletion (:data:`FOREVER` for keep forever), or None when it says nothing."""
        return FOREVER if self.keep_forever else self.delete_after_days

    def selects(self):
        """Q on artifacts: the artifacts this rule selects (empty selectors select everything)."""
        condition = Q()
        for field in ("artifact_type", "audio_recording_type"):
            if getattr(self, field):
                condition &= Q(**{field: getattr(self, field)})
        for field in ("channel", "direction", "origin"):
            if getattr(self, field):
                condition &= Q(**{f"interaction__{field}": getattr(self, field)})
        return condition


def rules_for(tenant_id, *, change=None, remove=None):
    """The enabled rules of a tenant, optionally as they would be after an edit.

    ``change`` is an unsaved (or edited) policy that replaces the saved one with its pk, or is
    added; ``remove`` is the pk of a policy to leave out. Disabled policies contribute nothing.
    """
    from .models import LifecyclePolicy

    rules = [
        Rule.of(p)
        for p in LifecyclePolicy.objects.filter(tenant_id=tenant_id, enabled=True).order_by("pk")
        if p.pk not in (remove, getattr(change, "pk", None))
    ]
    if change is not None and change.enabled:
        rules.append(Rule.of(change))
    return rules


def _greatest(expressions):
    return expressions[0] if len(expressions) == 1 else Greatest(*expressions)


def _least(expressions):
    return expressions[0] if len(expressions) == 1 else Least(*expressions)


class Schedule:
    """The archive and deletion dates a list of rules gives, as expressions on Artifact querysets."""

    def __init__(self, rules):
        self.rules = list(rules)
        self.default = next((r for r in self.rules if r.is_default), None)
        self.selecting = [r for r in self.rules if not r.is_default]

    @classmethod
    def for_tenant(cls, tenant_id):
        """The schedule of the tenant's enabled policies as they are saved."""
        return cls(rules_for(tenant_id))

    # --- integer days ----------------------------------------------------------------------
    def _retention_days(self):
        deciding = [r for r in self.selecting if r.retention_days is not None]
        fallback = self.default.retention_days if self.default and self.default.retention_days is not None else UNSET
        if not deciding:
            return Value(fallback, output_field=IntegerField())
        longest = _greatest(
            [Case(When(r.selects(), then=Value(r.retention_days)), default=Value(UNSET)) for r in deciding]
        )
        return Coalesce(NullIf(longest, Value(UNSET)), Value(fallback), output_field=IntegerField())

    def _archive_days(self):
        archiving = [r for r in self.selecting if r.archive_after_days is not None]
        fallback = self.default.archive_after_days if self.default else None
        fallback = Value(fallback if fallback is not None else UNSET, output_field=IntegerField())
        if not archiving:
            return fallback
        earliest = _least(
            [Case(When(r.selects(), then=Value(r.archive_after_days)), default=Value(FOREVER)) for r in archiving]
        )
        return Coalesce(NullIf(earliest, Value(FOREVER)), fallback, output_field=IntegerField())

    def _deciding_policy(self, alias, days_of, fallback):
        """Which policy's days won (the actor of a deletion or a move): the first selecting rule
        whose days equal the winner's, else ``fallback`` (the default policy)."""
        whens = [
            When(r.selects() & Q(**{alias: days_of(r)}), then=Value(r.policy_id))
            for r in self.selecting
            if days_of(r) is not None and r.policy_id is not None
        ]
        return Case(*whens, default=Value(fallback), output_field=IntegerField())

    def _days_to_date(self, alias, values):
        """``created_at + alias days`` for each value ``alias`` can take (portable: no interval math)."""
        whens = [
            When(**{alias: days}, then=F("created_at") + Value(timedelta(days=days)))
            for days in sorted(values)
            if days not in (UNSET, FOREVER)
        ]
        if not whens:
            return Cast(Value(None), DateTimeField())
        return ExpressionWrapper(Case(*whens, default=None), output_field=DateTimeField())

    # --- public ------------------------------------------------------------------------------
    def annotate(self, queryset, prefix=""):
        """``queryset`` (of artifacts) with ``<prefix>retention_days``, ``<prefix>archive_days``,
        ``<prefix>delete_on``, ``<prefix>archive_on``, and the ids of the policies that decided them,
        ``<prefix>deleting_policy`` and ``<prefix>archiving_policy``.

        ``retention_days`` is :data:`FOREVER` for keep forever and :data:`UNSET` when no policy
        decides; ``delete_on`` / ``archive_on`` are None when there is no such date.
        """
        retention, archive = f"{prefix}retention_days", f"{prefix}archive_days"
        retention_values = {r.retention_days for r in self.rules if r.retention_days is not None}
        archive_values = {r.archive_after_days for r in self.rules if r.archive_after_days is not None}
        default_id = self.default.policy_id if self.default else None
        return queryset.annotate(**{retention: self._retention_days(), archive: self._archive_days()}).annotate(
            **{
                f"{prefix}delete_on": self._days_to_date(retention, retention_values),
                f"{prefix}archive_on": self._days_to_date(archive, archive_values),
                f"{prefix}deleting_policy": self._deciding_policy(retention, lambda r: r.retention_days, default_id),
                f"{prefix}archiving_policy": self._deciding_policy(archive, lambda r: r.archive_after_days, default_id),
            }
        )

    @staticmethod
    def delete_due(now, prefix=""):
        """Q: present artifacts whose deletion date has passed (locks are checked separately)."""
        return Q(state__in=PRESENT_STATES) & Q(**{f"{prefix}delete_on__lte": now})

    @staticmethod
    def archive_due(now, prefix=""):
        """Q: artifacts in active storage whose archive date has passed and that are not due for deletion."""
        return (
            Q(state=ArtifactState.STORED)
            & Q(**{f"{prefix}archive_on__lte": now})
            & (Q(**{f"{prefix}delete_on__isnull": True}) | Q(**{f"{prefix}delete_on__gt": now}))
        )

    def earliest_deletion(self, now=None):
        """Expression for Interaction querysets: the earliest deletion date of its present,
        unlocked artifacts (None when nothing of it is scheduled for deletion); locks count when
        active at ``now`` (default: the current time).

        Only the deletion date is built (lists call this once per page; the other annotations
        would cost Python time for nothing)."""
        values = {r.retention_days for r in self.rules if r.retention_days is not None}
        artifacts = (
            Artifact.objects.filter(interaction_id=OuterRef("pk"))
            .present()
            .alias(retention_days=self._retention_days())
            .alias(delete_on=self._days_to_date("retention_days", values))
        )
        return Subquery(
            artifacts.filter(delete_on__isnull=False)
            .filter(~active_lock_exists(now))
            .order_by()
            .values("interaction_id")
            .annotate(first=Min("delete_on"))
            .values("first")[:1],
            output_field=DateTimeField(),
        )


#: Two stand-ins for "now" in :func:`_compiled_earliest_deletion`: the parameters where the two
#: compilations differ are the ones that take the current time on each use.
_NOW_A, _NOW_B = datetime(2000, 1, 1, tzinfo=UTC), datetime(2001, 1, 1, tzinfo=UTC)


@functools.lru_cache(maxsize=1024)
def _compiled_earliest_deletion(rules, using):
    """``(sql, params, now_slots)`` of :meth:`Schedule.earliest_deletion` for ``rules`` (a tuple of
    :class:`Rule`), compiled for an interactions query on the connection ``using``.

    Building the policies' ``CASE`` trees and compiling them was a tenth of the list page's server
    time; the result depends only on the rules (and the database), so it is compiled once per
    distinct set of rules (a policy edit makes new rules, hence a new entry: never a stale date).
    """
    from interactions.models import Interaction

    compiled = []
    for now in (_NOW_A, _NOW_B):
        query = Interaction.objects.annotate(earliest_deletion=Schedule(rules).earliest_deletion(now)).query
        compiled.append(query.get_compiler(using=using).compile(query.annotations["earliest_deletion"]))
    (sql, params), (sql_b, params_b) = compiled
    assert sql == sql_b and len(params) == len(params_b), "the deletion date's SQL must not depend on now"
    return sql, tuple(params), frozenset(i for i, (a, b) in enumerate(zip(params, params_b, strict=True)) if a != b)


def earliest_deletion(tenant, now=None, using=DEFAULT_DB_ALIAS, rules=None):
    """The earliest deletion date of each interaction of ``tenant``: ``.annotate(earliest_deletion=...)``
    on a queryset whose base table is the interactions table (its SQL names that table).

    One query reads the tenant's policies (unless ``rules``, the tenant's enabled rules as
    :func:`rules_for` gives them, were read already); the expression's SQL comes from
    :func:`_compiled_earliest_deletion`, with ``now`` (default: the current time) bound each time.
    """
    rules = tuple(rules_for(getattr(tenant, "pk", tenant)) if rules is None else rules)
    sql, params, now_slots = _compiled_earliest_deletion(rules, using)
    now_param = connections[using].ops.adapt_datetimefield_value(now or timezone.now())
    params = [now_param if i in now_slots else p for i, p in enumerate(params)]
    return RawSQL(sql, params, output_field=DateTimeField())


def artifact_dates(artifacts, tenant, now=None):
    """``artifacts`` (a queryset of one tenant) with the schedule's dates (see
    :meth:`Schedule.annotate`), ``keep_forever`` and a ``locked`` flag, in the same query."""
    schedule = Schedule.for_tenant(getattr(tenant, "pk", tenant))
    return schedule.annotate(artifacts).annotate(
        locked=ExpressionWrapper(active_lock_exists(now), output_field=BooleanField()),
        keep_forever=ExpressionWrapper(Q(retention_days=FOREVER), output_field=BooleanField()),
    )


def count_delete_due(tenant_id, artifacts, now):
    """How many of ``artifacts`` (a queryset of one tenant) are past their deletion date under the
    tenant's policies now, locked or not (registered with :func:`artifacts.impact.register_policy_due`)."""
    return Schedule.for_tenant(tenant_id).annotate(artifacts).filter(Schedule.delete_due(now)).count()


def deletion_dates(interaction_id):
    """``{artifact id: deletion date or None}`` of an interaction's present artifacts under its
    tenant's policies (registered with :func:`interactions.services.register_retention_dates`)."""
    artifacts = Artifact.objects.filter(interaction_id=interaction_id).present()
    tenant_id = artifacts.values_list("tenant_id", flat=True).first()
    if tenant_id is None:
        return {}
    return dict(Schedule.for_tenant(tenant_id).annotate(artifacts).values_list("id", "delete_on"))
