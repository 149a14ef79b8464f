"""The one way times and dates are shown on every page (loaded as a template builtin).

- ``{{ value|when }}``: an instant in the active time zone (tenant pages activate the tenant's),
  ``2027-03-01 14:05:09 IST``, in a ``<time>`` element whose ``datetime`` is ISO 8601 UTC and whose
  hover text is the UTC time, or the original text when one is given (``{{ t|when:original }}``:
  a transcript's time stamp, an email's ``Date`` header). Text that is not a time is shown as is.
- ``{{ value|day }}``: a date (or an instant's local date) as ``2027-03-01``.
- ``{{ value|through }}``: a lock expiry. Locks expiring "on" a day hold through its end, so the
  expiry instant is the next local midnight: shown as ``through 2027-03-01``, never as
  ``until 2027-03-02 00:00``. An expiry at another time of day is ``until <when>``.
- ``{{ seconds|media_length }}``: a recording's length, ``3:25`` (``1:02:05`` from an hour on).

Exports and the API use ISO 8601 instead (their own code).
"""

from datetime import UTC, date, datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

register = template.Library()

#: The product's one visible format of an instant (the zone abbreviation is appended).
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
DATE_FORMAT = "%Y-%m-%d"


def local(value):
    """``value`` (aware, or naive meaning UTC) in the active time zone."""
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    return timezone.localtime(value)


def format_when(value):
    """``2027-03-01 14:05:09 IST``: ``value`` in the active time zone with its abbreviation."""
    moment = local(value)
    return f"{moment.strftime(TIME_FORMAT)} {moment.tzname()}"


@register.filter(is_safe=True)
def when(value, original=None):
    """An instant as ``<time>`` in the product's format (see the module); ``""`` for no value."""
    if value in (None, ""):
        return ""
    if not isinstance(value, datetime):
        return format_html('<time title="{}">{}</time>', original or value, value)
    utc = local(value).astimezone(UTC)
    hover = f"Original: {original}" if original else f"{utc.strftime(TIME_FORMAT)} UTC"
    return format_html(
        '<time datetime="{}" title="{}">{}</time>', utc.strftime("%Y-%m-%dT%H:%M:%SZ"), hover, format_when(value)
    )


@register.filter
def thousands(value):
    """An integer with thousands separators: ``1,000``."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return value


@register.filter
def day(value):
    """A date, or an instant's date in the active time zone, as ``2027-03-01``; ``""`` for none."""
    if value in (None, ""):
        return ""
    if isinstance(value, datetime):
        value = local(value)
    return value.strftime(DATE_FORMAT) if isinstance(value, date) else value


def last_day(expires_at):
    """The last local day a lock expiring at ``expires_at`` holds, or None when it ends mid-day."""
    moment = local(expires_at)
    if (moment.hour, moment.minute, moment.second, moment.microsecond) != (0, 0, 0, 0):
        return None
    return (moment - timedelta(days=1)).date()


@register.filter(is_safe=True)
def through(value):
    """A lock expiry: ``through 2027-03-01`` (see the module); ``""`` for no expiry."""
    if value in (None, ""):
        return ""
    if isinstance(value, datetime):
        last = last_day(value)
        if last is None:
            return format_html("until {}", when(value))
        value = last
    return format_html(
        'through <time datetime="{}">{}</time>', value.strftime(DATE_FORMAT), value.strftime(DATE_FORMAT)
    )


def clock(seconds):
    """A recording's length as a player shows it: ``3:25``, ``1:02:05``; ``""`` when unknown."""
    if seconds in (None, ""):
        return ""
    total = round(float(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@register.filter(is_safe=True)
def media_length(seconds):
    """A recording's length in a ``<time>`` element (``datetime`` an ISO 8601 duration); ``""`` when unknown."""
    text = clock(seconds)
    if not text:
        return ""
    return format_html(
        '<time class="media-length" datetime="PT{}S">{}</time>', f"{float(seconds):.3f}".rstrip("0").rstrip("."), text
    )


#: Rendered main menus, per (tenant slug, grants, current page); bounded.
MAIN_NAV_CACHE_SIZE = 512
_main_nav = {}


@register.simple_tag(takes_context=True)
def main_nav(context):
    """The tenant pages' main menu (``_main_nav.html``), rendered once per tenant slug, set of grants
    and current page and kept (per process): its markup depends on nothing else, and its twenty
    tests and URL reversals cost every tenant page half as much as the rest of its template."""
    from django.template.loader import get_template

    request, tenant = context.get("request"), context.get("tenant")
    perms = frozenset(context.get("tenant_perms") or ())
    match = getattr(request, "resolver_match", None)
    key = (getattr(tenant, "slug", None), perms, getattr(match, "url_name", None))
    html = _main_nav.get(key)
    if html is None:
        html = get_template("_main_nav.html").render({"tenant": tenant, "tenant_perms": perms, "request": request})
        if len(_main_nav) >= MAIN_NAV_CACHE_SIZE:
            _main_nav.pop(next(iter(_main_nav)))  # the oldest
        _main_nav[key] = html
    return mark_safe(html)
