"""The interactions list's table rows, formatted once per row in Python.

Rendering the rows cell by cell in the template (a variable lookup, a filter and an escape per
cell, the ``|when`` and ``|day`` filters per row) was most of the list page's server time
(``bench/lists.py``: the page against the framework's floor). Here each row is one
:func:`~django.utils.html.format_html` over values converted once, with the same markup and the
same product formats (:mod:`core.templatetags.holdfast`); the template writes the rows as they are.

Times are shown in the active time zone: call :func:`row_html` while the tenant's zone is active
(tenant views activate it around the whole response).
"""

from django.utils.html import format_html
from django.utils.safestring import mark_safe

from core.templatetags.holdfast import day, when

LOCK_ICON = mark_safe(
    '<svg class="lock-icon" role="img" aria-label="Locked" width="14" height="16" viewBox="0 0 14 16">'
    "<title>Locked: an active lock protects content of this interaction</title>"
    '<rect x="1" y="7" width="12" height="8" rx="1.5" fill="currentColor"/>'
    '<path d="M4 7V4.5a3 3 0 0 1 6 0V7" fill="none" stroke="currentColor" stroke-width="2"/></svg>'
)
SELECT_CELL = (
    '<td class="select"><input type="checkbox" name="interaction_ids" value="{}" form="bulk-form" class="row-select"'
    ' aria-label="Select interaction {}"></td>'
)
ROW = (
    '<tr data-guid="{guid}">\n'
    "      {select}\n"
    '      <td class="start"><a href="{list_url}{guid}/">{started}</a></td>\n'
    '      <td class="guid"><code title="{guid}">{short}…</code> <button type="button" class="copy link" '
    'data-copy="{guid}" aria-label="Copy interaction id {guid}" hidden>Copy</button></td>\n'
    "      <td>{channel}</td>\n"
    "      <td>{direction}</td>\n"
    "      <td>{from_address}</td>\n"
    "      <td>{to_address}</td>\n"
    "      <td>{agent}</td>\n"
    '      <td class="num">{duration} s</td>\n'
    '      <td class="artifact-types">{badges}</td>\n'
    '      <td class="lock">{lock}</td>\n'
    '      <td class="deletion">{deletion}</td>\n'
    "    </tr>"
)
BADGE = (
    '<span class="badge type-{}" title="{}"><span aria-hidden="true">{}</span>'
    '<span class="visually-hidden">{}</span></span>'
)
OVERDUE = (
    '<span class="overdue" title="Its policy date {} has passed: the next sweep deletes it">Overdue — next sweep</span>'
)


def deletion_cell(earliest_deletion, now):
    """The Deletion date cell: ``—`` (nothing scheduled), the date, or *Overdue — next sweep*."""
    if not earliest_deletion:
        return "—"
    if earliest_deletion <= now:
        return format_html(OVERDUE, day(earliest_deletion))
    return day(earliest_deletion)


def badges(row):
    """The artifact type badges of a row (``row.artifact_badges``: value, label, short text)."""
    return mark_safe("".join(format_html(BADGE, v, label, short, label) for v, label, short in row.artifact_badges))


def row_html(row, *, list_url, now, selectable):
    """One ``<tr>`` of the list for ``row`` (an interaction of :meth:`workspace.filters.ListQuery.page`).

    ``selectable``: the row has the checkbox of the Protect / Release bulk actions.
    """
    guid = str(row.guid)
    return format_html(
        ROW,
        guid=guid,
        select=format_html(SELECT_CELL, guid, guid) if selectable else "",
        list_url=list_url,
        started=when(row.started_at),
        short=guid[:8],
        channel=row.get_channel_display(),
        direction=row.get_direction_display(),
        from_address=row.from_address,
        to_address=row.to_address,
        agent=row.agent_name,
        duration=row.duration_seconds,
        badges=badges(row),
        lock=LOCK_ICON if row.is_locked else "",
        deletion=deletion_cell(row.earliest_deletion, now),
    )
