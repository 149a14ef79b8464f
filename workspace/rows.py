"""The interactions list's table rows, formatted once per row in Python.

Rendering the rows cell by cell in the template (a variable lookup, a filter and an escape per
cell, the ``|when`` and ``|day`` filters per row) was most of the list page's server time
(``bench/lists.py``: the page against the framework's floor), and :func:`~django.utils.html.format_html`
per cell still a quarter of it. Here each row is one ``str.format`` over values escaped once with
the standard library's ``html.escape`` (what Django's ``escape`` calls), with the same markup and
the same product formats (:mod:`core.templatetags.holdfast`); the template writes the rows as they
are. ``tests/interactions/test_list_speed.py`` holds them equal to the template's rows.

Times are shown in the active time zone: call :func:`row_html` while the tenant's zone is active
(tenant views activate it around the whole response).
"""

from datetime import UTC
from html import escape

from django.utils.safestring import mark_safe

from core.templatetags.holdfast import TIME_FORMAT, day, format_when, local

LOCK_ICON = (
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


def when_html(value):
    """``{{ value|when }}`` for an instant: the ``<time>`` element of :func:`core.templatetags.holdfast.when`."""
    utc = local(value).astimezone(UTC)
    return (
        f'<time datetime="{utc.strftime("%Y-%m-%dT%H:%M:%SZ")}" title="{utc.strftime(TIME_FORMAT)} UTC">'
        f"{escape(format_when(value))}</time>"
    )


def deletion_cell(earliest_deletion, now):
    """The Deletion date cell: ``—`` (nothing scheduled), the date, or *Overdue — next sweep*."""
    if not earliest_deletion:
        return "—"
    if earliest_deletion <= now:
        return OVERDUE.format(escape(day(earliest_deletion)))
    return escape(day(earliest_deletion))


def badges(row):
    """The artifact type badges of a row (``row.artifact_badges``: value, label, short text)."""
    return "".join(
        BADGE.format(escape(v), escape(label), escape(short), escape(label)) for v, label, short in row.artifact_badges
    )


def row_html(row, *, list_url, now, selectable):
    """One ``<tr>`` of the list for ``row`` (an interaction of :meth:`workspace.filters.ListQuery.page`).

    ``selectable``: the row has the checkbox of the Protect / Release bulk actions.
    """
    guid = escape(str(row.guid))
    return mark_safe(
        ROW.format(
            guid=guid,
            select=SELECT_CELL.format(guid, guid) if selectable else "",
            list_url=escape(list_url),
            started=when_html(row.started_at),
            short=guid[:8],
            channel=escape(str(row.get_channel_display())),
            direction=escape(str(row.get_direction_display())),
            from_address=escape(row.from_address),
            to_address=escape(row.to_address),
            agent=escape(row.agent_name),
            duration=escape(str(row.duration_seconds)),
            badges=badges(row),
            lock=LOCK_ICON if row.is_locked else "",
            deletion=deletion_cell(row.earliest_deletion, now),
        )
    )
