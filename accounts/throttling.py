"""Sign-in throttling with django-axes: what a locked-out visitor sees, and the audit of a lockout.

django-axes counts failed sign-ins per user name and address (``AXES_LOCKOUT_PARAMETERS``) and,
at ``LOGIN_FAILURE_LIMIT``, refuses that pair for ``LOGIN_COOLOFF_MINUTES`` before any password
is checked (``AxesStandaloneBackend``). Here:

- :func:`lockout_response` (``AXES_LOCKOUT_CALLABLE``) shows the refusal on the login page that was
  used (ours or the admin's), with the minutes left, as HTTP 429;
- :func:`audit_lockout` records ``LOGIN_LOCKED_OUT`` through :func:`accounts.services.record_login_lockout`
  once, when the lockout begins (refused attempts during it are not recorded again).

The message is the same whether or not the user name exists, so it reveals no account.
"""

import math
from datetime import timedelta

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off
from axes.signals import user_locked_out
from django.conf import settings
from django.db.models import Max
from django.dispatch import receiver
from django.forms.utils import ErrorDict
from django.http import HttpResponse
from django.utils import timezone

from . import services
from .actors import visitor


def cool_off(request=None):
    """How long a lockout lasts (``AXES_COOLOFF_TIME``, from ``LOGIN_COOLOFF_MINUTES``)."""
    return get_cool_off(request) or timedelta(minutes=settings.LOGIN_COOLOFF_MINUTES)


def minutes_left(request, credentials=None):
    """Whole minutes (at least 1) until the lockout of this request's user name and address ends:
    the cool-off runs from the failure that locked it (later attempts do not extend it)."""
    attempts = AxesProxyHandler.get_implementation().get_user_attempts(request, credentials)
    times = (qs.aggregate(latest=Max("attempt_time"))["latest"] for qs in attempts)
    latest = max((time for time in times if time is not None), default=None)
    left = (latest + cool_off(request) - timezone.now()) if latest else cool_off(request)
    return max(1, math.ceil(left.total_seconds() / 60))


def lockout_message(request, credentials=None):
    """What a locked-out visitor reads."""
    minutes = minutes_left(request, credentials)
    wait = "1 minute" if minutes == 1 else f"{minutes} minutes"
    return f"Too many failed sign-ins for this account from your address; try again in {wait} or ask support."


def lockout_response(request, original_response=None, credentials=None):
    """The login page that refused the sign-in (ours or the admin's), re-rendered with the lockout
    message as the form's only error, with status 429 (``AXES_HTTP_RESPONSE_CODE``)."""
    message = lockout_message(request, credentials)
    context = getattr(original_response, "context_data", None)
    form = context.get("form") if context else None
    if form is None or not hasattr(original_response, "rendered_content"):
        return HttpResponse(message, status=settings.AXES_HTTP_RESPONSE_CODE, content_type="text/plain; charset=utf-8")
    # Replace "wrong user name or password" (not true: the password was not even checked).
    form._errors = ErrorDict()
    form._errors["__all__"] = form.error_class([message], error_class="nonfield", renderer=form.renderer)
    context["lockout_message"] = message
    original_response.content = original_response.rendered_content
    original_response.status_code = settings.AXES_HTTP_RESPONSE_CODE
    return original_response


@receiver(user_locked_out, dispatch_uid="accounts.audit_lockout")
def audit_lockout(sender, request, username, ip_address, **kwargs):
    """Record the lockout in the user's tenants when it begins.

    django-axes sends ``user_locked_out`` for the failure that reaches the limit (it has counted
    it: ``axes_failures_since_start``) and again for each attempt refused during the lockout
    (not counted, ``None``): only the first is recorded.
    """
    failures = getattr(request, "axes_failures_since_start", None)
    if failures is None or not username:
        return
    services.record_login_lockout(username, visitor(request), failures=failures, cool_off=cool_off(request))
