"""The contact-status webhook: once a contact's data and media are stored (and verified), Holdfast
POSTs the seed's payload to the connection's Event Webhook URL.

Payload (exactly the seed's keys)::

    {"ccrId": 1234,                 # int: Holdfast's contact record (the interaction's numeric id)
     "sessionId": "5c0e…",          # str: the interaction's GUID (its id in the UI and the API)
     "legId": "CA…",                # str: the call SID of the task (digital: the conversation SID)
     "tenantId": 7,                 # int: the tenant's id
     "status": "COMPLETE",          # or "FAILED"
     "failureReason": "…"}          # only with FAILED: a sentence for people, never an API error

Signature: ``X-Holdfast-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` with the
connection's webhook secret (shown once when made). Receivers recompute it over the raw body and
refuse old ``t`` values. A delivery that fails (no 2xx, timeout) is retried with exponential backoff
(1 min, 2, 4 … at most 1 h) up to ``WEBHOOK_MAX_ATTEMPTS``; every attempt is logged on the row.
"""

import hashlib
import hmac
import json
import logging
import time
from datetime import timedelta

import requests
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core import secrets

from .models import WebhookDelivery

log = logging.getLogger(__name__)
HEADER = "X-Holdfast-Signature"


def payload_for(interaction, leg_id, failure_reason=None):
    """The seed's payload for a contact."""
    payload = {
        "ccrId": interaction.pk,
        "sessionId": str(interaction.guid),
        "legId": leg_id or "",
        "tenantId": interaction.tenant_id,
        "status": "FAILED" if failure_reason else "COMPLETE",
    }
    if failure_reason:
        payload["failureReason"] = failure_reason
    return payload


def sign(secret, body, timestamp=None):
    """The header value: ``t=<unix>,v1=<hex HMAC-SHA256 of "t.body">``."""
    timestamp = int(time.time()) if timestamp is None else int(timestamp)
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def contact_status(connection, interaction, leg_id, failure_reason=None):
    """Log the contact's status event (once per contact) and try to deliver it now."""
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                connection=connection,
                interaction=interaction,
                leg_id=leg_id or "",
                payload=payload_for(interaction, leg_id, failure_reason),
                next_attempt_at=timezone.now(),
            )
    except IntegrityError:
        return None  # already told
    deliver(delivery.pk)
    return delivery


def _backoff(attempts):
    return timedelta(seconds=min(3600, 60 * 2 ** max(attempts - 1, 0)))


def deliver(delivery_id, now=None):
    """One attempt of a pending delivery; returns the row."""
    delivery = WebhookDelivery.objects.select_related("connection").get(pk=delivery_id)
    if delivery.state != WebhookDelivery.State.PENDING:
        return delivery
    connection = delivery.connection
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    status, error = None, ""
    if not connection.webhook_url:
        error = "The connection has no Event Webhook URL any more."
    else:
        try:
            secret = secrets.decrypt(connection.webhook_secret_encrypted)
            response = requests.post(
                connection.webhook_url,
                data=body,
                headers={
                    "Content-Type": "application/json",
                    HEADER: sign(secret, body),
                    "User-Agent": "Holdfast-Webhooks/1",
                },
                timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
                allow_redirects=False,
            )
            status = response.status_code
            response.close()
            if not 200 <= status < 300:
                error = f"The receiver answered {status}."
        except requests.RequestException as exc:
            error = f"The receiver could not be reached ({type(exc).__name__})."
    now = now or timezone.now()
    delivery.attempts += 1
    delivery.last_status, delivery.last_error = status, error[:500]
    if not error:
        delivery.state, delivery.delivered_at, delivery.next_attempt_at = WebhookDelivery.State.DELIVERED, now, None
    elif delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        delivery.state, delivery.next_attempt_at = WebhookDelivery.State.FAILED, None
        log.warning("Webhook delivery %s given up after %s attempts: %s", delivery.pk, delivery.attempts, error)
    else:
        delivery.next_attempt_at = now + _backoff(delivery.attempts)
    delivery.save(update_fields=["attempts", "last_status", "last_error", "state", "delivered_at", "next_attempt_at"])
    return delivery


def deliver_due(now=None, limit=200):
    """Retry the pending deliveries whose time has come; returns how many were delivered."""
    now = now or timezone.now()
    due = WebhookDelivery.objects.filter(state=WebhookDelivery.State.PENDING, next_attempt_at__lte=now)
    delivered = 0
    for pk in due.order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit]:
        delivered += deliver(pk, now=now).state == WebhookDelivery.State.DELIVERED
    return delivered
