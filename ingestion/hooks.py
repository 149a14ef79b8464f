"""``POST /hooks/twilio/<connection uuid>/recording-status``: Twilio's recording status callback.

Twilio signs each callback (``X-Twilio-Signature``: HMAC-SHA1 of the URL and the sorted POST
parameters with the account's auth token); twilio-python's ``RequestValidator`` checks it, and
anything else is refused with 403. A valid callback queues an ingestion of the connection at once
(with that call: its recordings are fetched when its task's interaction exists) instead of waiting
for the schedule. Nothing from the callback's body is trusted beyond the call SID.
"""

import re

from django.http import HttpResponse, HttpResponseForbidden, HttpResponseNotFound
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from core import secrets

from . import services
from .actors import connection_actor
from .models import IngestionRun, TwilioFlexConnection

CALL_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")


@csrf_exempt
@require_POST
def recording_status(request, connection_uuid):
    """Validate the callback's signature, then queue an ingestion (204)."""
    connection = TwilioFlexConnection.objects.filter(uuid=connection_uuid).first()
    if connection is None:
        return HttpResponseNotFound("No such connection.", content_type="text/plain")
    try:
        token = secrets.decrypt(connection.auth_token_encrypted)
    except secrets.SecretsUnavailable:
        return HttpResponse("Secrets unavailable.", status=503, content_type="text/plain")
    signature = request.headers.get("X-Twilio-Signature", "")
    params = {key: request.POST.get(key) for key in request.POST}
    if not signature or not RequestValidator(token).validate(request.build_absolute_uri(), params, signature):
        return HttpResponseForbidden("Invalid Twilio signature.", content_type="text/plain")
    call_sid = request.POST.get("CallSid", "")
    call_sid = call_sid if CALL_SID.match(call_sid) else ""
    waiting = IngestionRun.objects.filter(
        connection=connection, status=IngestionRun.Status.QUEUED, call_sid=call_sid
    ).exists()
    if not waiting:
        services.start_ingestion(
            connection.pk, connection_actor(connection), trigger=IngestionRun.Trigger.CALLBACK, call_sid=call_sid
        )
    return HttpResponse(status=204)
