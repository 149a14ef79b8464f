"""The interactions list's query: filters, sort, keyset paging and the columns it shows.

One definition for the list page and the CSV export (:func:`list_query`), so both always show the
same rows to the same user. Every query starts from the view's rows,
``Interaction.objects.restrict(actor, VIEW_INTERACTIONS)`` plus the tenant of the URL.

Choices made for speed at millions of interactions per tenant:

- **Paging** is by keyset on ``(started_at, id)`` (index ``interaction_tenant_started``, scanned
  forwards or backwards): a page deep in the list costs what page 1 costs. No ``COUNT``: the page
  fetches one row more than it shows to know whether there is a next one.
- **Free text** (``q``): a value that parses as a UUID is an exact GUID match (unique index);
  anything else is an exact match on the source call / task ids (indexed) or a case-insensitive
  *prefix* match on From and To (expression indexes of migration 0003). No substring search: a
  ``LIKE '%x%'`` over a million rows cannot use an index.
- **Columns** come from the same SQL statement: the lock flag and the artifact types are
  correlated subqueries on indexed columns (no per-row queries, no prefetch), and the earliest
  deletion date is the lifecycle policies' expression (:mod:`policies.retention`).
"""

import re
import uuid
import zoneinfo
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import django_filters
from django import forms
from django.db.models import BooleanField, Exists, Func, IntegerField, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from artifacts.models import Artifact, Lock
from core.sql import NOW_STAND_INS, CompiledExpression
from core.vocabulary import ArtifactType, Channel, Direction, Origin
from core.widgets import ISO_DATE, IsoDateInput
from interactions.models import Interaction

DEFAULT_PER_PAGE, MIN_PER_PAGE, MAX_PER_PAGE = 50, 10, 100
NEWEST_FIRST, OLDEST_FIRST = "-started_at", "started_at"
LOCKED_CHOICES = (("yes", "Locked"), ("no", "Not locked"))

#: One bit per artifact type, for the per-row "which types does it have" aggregate.
TYPE_BITS = {artifact_type: 1 << position for position, artifact_type in enumerate(ArtifactType)}
#: Short badge text per artifact type (the full name goes in the title and for screen readers).
TYPE_SHORT = {
    ArtifactType.EMAIL: "Email",
    ArtifactType.MESSAGING_TRANSCRIPT: "Transcript",
    ArtifactType.SCRIPT: "Script",
    ArtifactType.PARTIAL_AUDIO_RECORDING: "Partial",
    ArtifactType.AUDIO_RECORDING: "Audio",
    ArtifactType.QM_AUDIO_RECORDING: "QM audio",
    ArtifactType.QM_SCREEN_RECORDING: "QM screen",
    ArtifactType.VOICEMAIL: "Voicemail",
}


FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(9998, 12, 31)


def _tenant_day_start(day, tz):
    """The instant a calendar day begins in the tenant's time zone."""
    return datetime.combine(day, time.min, tzinfo=tz)


def _date_input():
    return IsoDateInput()


class FilterForm(forms.Form):
    """Checks that need more than one field (django-filter builds the fields themselves)."""

    def clean(self):
        cleaned = super().clean()
        for name in ("started_from", "started_to"):
            day = cleaned.get(name)
            # Far dates would overflow when shifted between time zones (a 500, not a message).
            if day and not FIRST_DAY <= day <= LAST_DAY:
                self.add_error(name, f"must be between {FIRST_DAY} and {LAST_DAY}.")
        start, end = cleaned.get("started_from"), cleaned.get("started_to")
        if start and end and start > end:
            self.add_error("started_to", "must be on or after the From date.")
        return cleaned


class InteractionFilter(django_filters.FilterSet):
    """The list's filters; each is a query parameter, so a filtered list is a shareable URL."""

    started_from = django_filters.DateFilter(
        label="From date",
        method="filter_started_from",
        widget=_date_input(),
        input_formats=[ISO_DATE],
        help_text="Inclusive, tenant time.",
    )
    started_to = django_filters.DateFilter(
        label="To date",
        method="filter_started_to",
        widget=_date_input(),
        input_formats=[ISO_DATE],
        help_text="Inclusive, tenant time.",
    )
    channel = django_filters.ChoiceFilter(label="Channel", choices=Channel.choices, empty_label="Any")
    direction = django_filters.ChoiceFilter(label="Direction", choices=Direction.choices, empty_label="Any")
    origin = django_filters.ChoiceFilter(label="Origin", choices=Origin.choices, empty_label="Any")
    agent = django_filters.CharFilter(
        label="Agent", method="filter_agent", help_text="An agent id, or the start of any part of the name."
    )
    artifact_type = django_filters.ChoiceFilter(
        label="Artifact type", choices=ArtifactType.choices, empty_label="Any", method="filter_artifact_type"
    )
    locked = django_filters.ChoiceFilter(
        label="Lock", choices=LOCKED_CHOICES, empty_label="Any", method="filter_locked"
    )
    q = django_filters.CharFilter(
        label="Search",
        method="filter_text",
        max_length=320,
        help_text="A GUID, a call or task id, or the beginning of From / To.",
    )

    class Meta:
        form = FilterForm

    def __init__(self, data=None, queryset=None, *, tenant, **kwargs):
        super().__init__(data, queryset, **kwargs)
        self.tz = zoneinfo.ZoneInfo(tenant.time_zone)

    _form_class = None

    def get_form_class(self):
        """The form class, built once: django-filter builds a new class with new fields for every
        request, while these filters' fields depend on nothing but the vocabulary (each form still
        gets its own copies of the fields, as every Django form does)."""
        cls = type(self)
        if cls.__dict__.get("_form_class") is None:
            cls._form_class = super().get_form_class()
        return cls._form_class

    def filter_started_from(self, queryset, name, value):
        return queryset.filter(started_at__gte=_tenant_day_start(value, self.tz))

    def filter_started_to(self, queryset, name, value):
        # Inclusive: everything before the next day starts in the tenant's zone.
        return queryset.filter(started_at__lt=_tenant_day_start(value + timedelta(days=1), self.tz))

    def filter_agent(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        # "San", "Sandra Sch" and "Schm" all find Sandra Schmidt: the start of the name or of a later part.
        return queryset.filter(
            Q(agent_id=value) | Q(agent_name__istartswith=value) | Q(agent_name__icontains=f" {value}")
        )

    def filter_artifact_type(self, queryset, name, value):
        present = Artifact.objects.filter(interaction_id=OuterRef("pk"), artifact_type=value).present()
        return queryset.filter(Exists(present))

    def filter_locked(self, queryset, name, value):
        locked = active_lock()
        return queryset.filter(locked if value == "yes" else ~locked)

    def filter_text(self, queryset, name, value):
        return queryset.filter(text_search(value)) if value.strip() else queryset


def text_search(value):
    """Q for the free-text search; see the module docstring for why it is exact / prefix only."""
    value = value.strip()
    try:
        return Q(guid=uuid.UUID(value))
    except ValueError:
        pass
    return (
        Q(source_call_id=value)
        | Q(source_task_id=value)
        | Q(from_address__istartswith=value)
        | Q(to_address__istartswith=value)
    )


def active_lock(now=None):
    """``EXISTS`` an active lock (any type) at ``now`` (default: the current time) on the outer
    interaction: the list's lock icon."""
    return Exists(Lock.objects.active(now).filter(interaction_id=OuterRef("pk")))


class TypeBit(Func):
    """``CASE artifact_type WHEN 'email' THEN 1 WHEN ... END``: the :data:`TYPE_BITS` bit of a type.

    The type names are the vocabulary's own identifiers (checked below), so they are written into
    the SQL as literals: one small expression instead of a tree of ``When`` objects that Django
    would resolve and compile again on every page.
    """

    output_field = IntegerField()

    def as_sql(self, compiler, connection, **extra_context):
        column, params = compiler.compile(self.source_expressions[0])
        whens = " ".join(f"WHEN '{t.value}' THEN {bit}" for t, bit in TYPE_BITS.items())
        return f"CASE {column} {whens} ELSE 0 END", params


assert all(re.fullmatch(r"[a-z_]+", t.value) for t in TYPE_BITS), "artifact type values are written into SQL"


def artifact_type_mask():
    """Subquery: the OR of :data:`TYPE_BITS` over the interaction's present artifacts, as
    ``SUM(DISTINCT bit)`` (distinct powers of two add up to their OR), in one index range scan per
    row; plain SQL, so it runs on SQLite too."""
    per_interaction = (
        Artifact.objects.filter(interaction_id=OuterRef("pk"))
        .present()
        .order_by()
        .values("interaction_id")
        .annotate(mask=Sum(TypeBit("artifact_type"), distinct=True))
        .values("mask")[:1]
    )
    return Subquery(per_interaction, output_field=IntegerField())


def artifact_types(mask):
    """The artifact types a :func:`artifact_type_mask` value stands for, in the vocabulary's order."""
    return [t for t, bit in TYPE_BITS.items() if (mask or 0) & bit]


#: The list's lock flag and artifact types, compiled once (see :class:`core.sql.CompiledExpression`).
IS_LOCKED = CompiledExpression(active_lock, Interaction, BooleanField(), now=NOW_STAND_INS)
ARTIFACT_MASK = CompiledExpression(artifact_type_mask, Interaction, IntegerField())


def with_columns(queryset, tenant, now=None, rules=None):
    """``queryset`` (of interactions, its table not aliased) with the list's computed columns:
    ``is_locked``, ``artifact_mask``, ``earliest_deletion``, as of ``now`` (default: the current
    time); ``rules``: the tenant's policies' rules when read already (see
    :func:`policies.retention.earliest_deletion`)."""
    from policies.retention import earliest_deletion

    now = now or timezone.now()
    return queryset.annotate(
        is_locked=IS_LOCKED(queryset.db, now=now),
        artifact_mask=ARTIFACT_MASK(queryset.db),
        earliest_deletion=earliest_deletion(tenant, now, using=queryset.db, rules=rules),
    )


class PageForm(forms.Form):
    """Sort order, page size and keyset position (``after=<iso started_at>_<id>``)."""

    sort = forms.ChoiceField(
        label="Sort",
        required=False,
        choices=((NEWEST_FIRST, "Newest first"), (OLDEST_FIRST, "Oldest first")),
    )
    per_page = forms.IntegerField(
        label="Per page",
        required=False,
        min_value=MIN_PER_PAGE,
        max_value=MAX_PER_PAGE,
        widget=forms.NumberInput(attrs={"placeholder": str(DEFAULT_PER_PAGE)}),
    )
    after = forms.CharField(label="Page position", required=False, widget=forms.HiddenInput)

    def clean_sort(self):
        return self.cleaned_data["sort"] or NEWEST_FIRST

    def clean_per_page(self):
        return self.cleaned_data["per_page"] or DEFAULT_PER_PAGE

    def clean_after(self):
        value = self.cleaned_data["after"]
        if not value:
            return None
        cursor = parse_cursor(value)
        if cursor is None:
            raise forms.ValidationError("is not a page position of this list; start again from the first page.")
        return cursor


def parse_cursor(value):
    """``<iso started_at>_<id>`` → (datetime in UTC, id), or None when malformed.

    The time comes back in UTC whatever offset the text carried: Python accepts offsets up to ±24 h,
    PostgreSQL only up to ±15:59:59, so a cursor like ``…+16:00_1`` reaches the query as UTC.
    """
    try:
        started, pk = value.rsplit("_", 1)
        started, pk = datetime.fromisoformat(started), int(pk)
        # Aware, convertible to UTC, and an id PostgreSQL's bigint can hold: else not ours.
        if started.tzinfo is None or not 0 < pk < 2**63:
            return None
        return started.astimezone(UTC), pk
    except (AttributeError, ValueError, OverflowError):
        return None


def format_cursor(row):
    """The keyset position just after ``row``."""
    return f"{row.started_at.isoformat()}_{row.pk}"


#: The query parameters that describe a view of the list (saved views keep only these).
VIEW_PARAMS = (*InteractionFilter.base_filters, "sort", "per_page")


def _messages(form):
    out = []
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else "Filters"
        out += [f"{label}: {error}" for error in errors]
    return out


@dataclass
class ListQuery:
    """A validated request for the list: the filtered, ordered, annotated queryset, or errors."""

    filterset: InteractionFilter
    page_form: PageForm
    errors: list = field(default_factory=list)
    queryset: object = None
    sort: str = NEWEST_FIRST
    per_page: int = DEFAULT_PER_PAGE
    after: tuple | None = None

    @property
    def ascending(self):
        return self.sort == OLDEST_FIRST

    def page(self):
        """(rows of this page, cursor of the next page or ""): one SQL statement, no COUNT."""
        qs = self.queryset
        if self.after:
            started, pk = self.after
            # The range condition on started_at is what the index scan starts from; the exclude
            # only drops the rows of the same instant already shown.
            if self.ascending:
                qs = qs.filter(started_at__gte=started).exclude(started_at=started, id__lte=pk)
            else:
                qs = qs.filter(started_at__lte=started).exclude(started_at=started, id__gte=pk)
        rows = list(qs[: self.per_page + 1])
        has_more = len(rows) > self.per_page
        rows = rows[: self.per_page]
        for row in rows:
            row.artifact_badges = [(t.value, t.label, TYPE_SHORT[t]) for t in artifact_types(row.artifact_mask)]
        return rows, (format_cursor(rows[-1]) if has_more else "")


def list_query(scoped, tenant, data, now=None, rules=None):
    """Validate ``data`` (the query parameters) and build the list's queryset over ``scoped`` (the
    tenant's interactions the actor may see: the view's rows), its columns as of ``now`` (default:
    the current time) under the tenant's policies (``rules``, when read already).

    Invalid input gives ``errors`` (each naming its field) and an empty queryset, never a guess.
    """
    filterset = InteractionFilter(data, queryset=scoped, tenant=tenant)
    page_form = PageForm(data)
    query = ListQuery(filterset=filterset, page_form=page_form)
    query.errors = _messages(filterset.form) + _messages(page_form)
    if query.errors:
        query.queryset = scoped.none()
        return query
    query.sort = page_form.cleaned_data["sort"]
    query.per_page = page_form.cleaned_data["per_page"]
    query.after = page_form.cleaned_data["after"]
    order = ("started_at", "id") if query.ascending else ("-started_at", "-id")
    query.queryset = with_columns(filterset.qs, tenant, now, rules).order_by(*order)
    return query
