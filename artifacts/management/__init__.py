"""Helpers shared by the artifacts management commands (``artifacts_requests``, ``locks``).

Operators type the product's labels or the stored values ("Add Lock", "add-lock", "add_lock"): see
:func:`choice_value`. Every lookup that can fail raises ``CommandError`` with a message naming the
option, so a command never ends in a stack trace on bad input.
"""

import re
import zoneinfo

from django.core.management.base import CommandError
from django.utils import timezone

from accounts.models import Membership, Tenant, User

_NOT_WORD = re.compile(r"[\s\-]+")


def _key(text):
    return _NOT_WORD.sub("_", str(text).strip().lower())


def choice_value(option, text, choices, *, blank_ok=False):
    """The stored value of ``text`` among ``choices`` ((value, label) pairs), matched
    case-insensitively against values and labels, spaces and hyphens read as underscores.

    Raises ``CommandError`` naming ``option`` and the accepted values when nothing matches.
    """
    if text in (None, ""):
        if blank_ok:
            return ""
        raise CommandError(f"{option}: required; one of {', '.join(v for v, _ in choices)}.")
    wanted = _key(text)
    for value, label in choices:
        if wanted in (_key(value), _key(label)):
            return value
    raise CommandError(
        f"{option}: {text!r} is not one of {', '.join(v for v, _ in choices)} "
        f"(or their labels: {', '.join(str(label) for _, label in choices)})."
    )


def get_tenant(slug, option="--tenant"):
    """The tenant with ``slug``, or ``CommandError`` naming the option."""
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        known = ", ".join(Tenant.objects.order_by("slug").values_list("slug", flat=True)[:20])
        raise CommandError(f"{option}: no tenant with the slug {slug!r} (known: {known or 'none'}).")
    return tenant


def get_member(username, tenant, option="--user"):
    """An active user who is a member of ``tenant`` (or a superuser), else ``CommandError``."""
    user = User.objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"{option}: no user named {username!r}.")
    if not user.is_active:
        raise CommandError(f"{option}: the user {username!r} is inactive.")
    if not user.is_superuser and not Membership.objects.filter(user=user, tenant=tenant).exists():
        raise CommandError(f"{option}: {username!r} is not a member of the tenant {tenant.slug!r}.")
    return user


def local(value, tenant, fmt="%Y-%m-%d %H:%M"):
    """``value`` (an aware datetime) in the tenant's time zone, formatted; ``—`` for None."""
    if value is None:
        return "—"
    return timezone.localtime(value, zoneinfo.ZoneInfo(tenant.time_zone)).strftime(fmt)


def table(headers, rows):
    """Rows as a plain-text table with aligned columns (numbers right-aligned), as a list of lines.

    ``None`` cells show as ``—``; empty strings stay blank.
    """
    rows = [["—" if cell is None else str(cell) for cell in row] for row in rows]
    widths = [max([len(h), *(len(row[n]) for row in rows)]) for n, h in enumerate(headers)]
    numeric = [
        all(row[n].isdigit() or not row[n] for row in rows) and any(row[n] for row in rows) for n in range(len(headers))
    ]

    def line(cells):
        return "  ".join(
            cell.rjust(width) if num else cell.ljust(width)
            for cell, width, num in zip(cells, widths, numeric, strict=True)
        ).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(row) for row in rows)]


def shorten(text, width=40):
    """``text`` on one line, cut to ``width`` characters with an ellipsis."""
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"
