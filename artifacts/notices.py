"""Lock expiry: notices before a lock expires, and the record of its lapse when it does.

- **Notices** (:func:`send_expiry_notices`, the daily ``lock_expiry_notices`` task): each active
  lock that expires within the tenant's ``lock_expiry_notice_days`` is emailed about once per
  threshold — to its matter's owner and to the tenant's Compliance Officers (members whose role is
  named so) — and recorded in :class:`~artifacts.models.LockExpiryNotice` (unique per lock and
  threshold), so a second run sends nothing. The mails are sent inside the transaction that records
  them: a mail server that refuses leaves nothing recorded, and the next run tries again. Each
  notice is audited (``lock_expiry_notice_sent``, one event per lock, naming the recipients).
- **Lapses** (:func:`record_all_lapses`, the ``record_lock_lapses`` task, every minute): each lock
  whose expiry passed is recorded once (``lock_expired``) by
  :func:`artifacts.services.record_lapsed_locks` within a minute of the lapse, not only when a
  lifecycle sweep comes by (the sweep still records any it finds first).
"""

import logging
import smtplib
from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts import audit
from accounts.actors import system_actor
from accounts.models import AuditEvent, Membership, Tenant
from accounts.permissions import COMPLIANCE_OFFICER, MANAGE_LIFECYCLE_POLICIES, VIEW_INTERACTIONS

from . import services
from .models import Lock, LockExpiryNotice

log = logging.getLogger(__name__)

NOTICE_ACTOR = system_actor("lock-expiry-notices", "Lock expiry notices", {VIEW_INTERACTIONS})
LAPSE_ACTOR = system_actor("lock-lapses", "Lock expiry recorder", {MANAGE_LIFECYCLE_POLICIES})


class NoticeNotSent(RuntimeError):
    """The mail server refused a notice; nothing of the run was recorded."""


def _compliance_addresses(tenant_id):
    return sorted(
        set(
            Membership.objects.filter(tenant_id=tenant_id, role__name=COMPLIANCE_OFFICER, user__is_active=True)
            .exclude(user__email="")
            .values_list("user__email", flat=True)
        )
    )


def _placements(locks):
    """Locks as people placed them: one entry per (interaction, request, matter, expiry), with its types."""
    groups = {}
    for lock in locks:
        key = (lock.interaction_id, lock.request_id, lock.matter_id, lock.expires_at)
        groups.setdefault(key, {"lock": lock, "types": []})["types"].append(lock.type_label)
    return sorted(groups.values(), key=lambda g: (g["lock"].expires_at, str(g["lock"].interaction.guid)))


def send_expiry_notices(tenant_id, actor, *, now=None):
    """Email the notices of the tenant's locks that expire within its notice days and have not had
    one for that threshold; record them (once) and audit them. Returns how many locks were noticed.
    Raises :class:`NoticeNotSent` (nothing recorded) when the mail server refuses."""
    actor.require(tenant_id, VIEW_INTERACTIONS, doing="send lock expiry notices")
    now = now or timezone.now()
    tenant = Tenant.objects.get(pk=tenant_id)
    days = tenant.lock_expiry_notice_days
    sent = LockExpiryNotice.objects.filter(lock=OuterRef("pk"), threshold_days=days)
    with transaction.atomic():
        due = list(
            Lock.objects.active(now)
            .filter(tenant_id=tenant_id, expires_at__lte=now + timedelta(days=days))
            .filter(~Exists(sent))
            .select_related("interaction", "matter__owner")
            .order_by("id")
            # Two runs at once: each lock is taken by one of them.
            .select_for_update(no_key=True, skip_locked=True, of=("self",))
        )
        if not due:
            return 0
        officers = _compliance_addresses(tenant_id)
        to_whom = defaultdict(list)  # address -> locks
        recipients_of = {}
        for lock in due:
            owner = lock.matter.owner if lock.matter_id else None
            addresses = set(officers)
            if owner is not None and owner.is_active and owner.email:
                addresses.add(owner.email)
            recipients_of[lock.pk] = sorted(addresses)
            for address in addresses:
                to_whom[address].append(lock)
        unreachable = [lock.pk for lock in due if not recipients_of[lock.pk]]
        if unreachable:
            log.warning(
                "%s: %d expiring lock(s) have nobody to notify (no Compliance Officer or matter owner with an "
                "email address); tried again at the next run",
                tenant.slug,
                len(unreachable),
            )
        _send(tenant, days, to_whom)
        LockExpiryNotice.objects.bulk_create(
            LockExpiryNotice(lock=lock, threshold_days=days, sent_at=now, recipients=", ".join(recipients_of[lock.pk]))
            for lock in due
            if recipients_of[lock.pk]
        )
        by_recipients = defaultdict(list)
        for lock in due:
            if recipients_of[lock.pk]:
                by_recipients[tuple(recipients_of[lock.pk])].append(lock.pk)
        for addresses, ids in by_recipients.items():
            audit.record_rows(
                services.lock_audit_rows(ids, threshold_days=days),
                tenant_id,
                AuditEvent.Kind.LOCK_EXPIRY_NOTICE_SENT,
                actor,
                reason=f"Lock expires within {days} days: notice sent to {', '.join(addresses)}",
            )
    return sum(len(ids) for ids in by_recipients.values())


def _send(tenant, days, to_whom):
    """One mail per recipient listing its expiring locks (one connection for all of them)."""
    link = reverse("legal-holds", args=[tenant.slug])
    messages = []
    for address, locks in sorted(to_whom.items()):
        placements = _placements(locks)
        body = render_to_string(
            "artifacts/email/lock_expiry_notice.txt",
            {"tenant": tenant, "days": days, "placements": placements, "link": link, "zone": tenant.time_zone},
        )
        subject = f"{tenant.name}: {len(placements)} lock(s) expire within {days} days"
        messages.append(EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [address]))
    try:
        get_connection().send_messages(messages)
    except (smtplib.SMTPException, OSError) as exc:
        raise NoticeNotSent(f"{tenant.slug}: lock expiry notices not sent ({exc}); nothing recorded") from exc


def send_all_expiry_notices():
    """The daily ``lock_expiry_notices`` task: every tenant's notices; a tenant whose mails are refused
    does not stop the others. Returns ``{tenant slug: locks noticed}`` of the tenants with any."""
    done = {}
    for tenant in Tenant.objects.order_by("pk"):
        try:
            count = send_expiry_notices(tenant.pk, NOTICE_ACTOR)
        except NoticeNotSent as exc:
            log.error("%s", exc)
            continue
        if count:
            done[tenant.slug] = count
    return done


def record_all_lapses(now=None):
    """The ``record_lock_lapses`` task: record (once, audited) every lock whose expiry has passed, in
    each tenant that has any. Returns ``{tenant id: locks recorded}``."""
    now = now or timezone.now()
    tenants = (
        Lock.objects.filter(released_at__isnull=True, expires_at__lte=now, expiry_recorded_at__isnull=True)
        .order_by()
        .values_list("tenant_id", flat=True)
        .distinct()
    )
    return {
        tenant_id: services.record_lapsed_locks(tenant_id, LAPSE_ACTOR, now=now) for tenant_id in sorted(set(tenants))
    }
