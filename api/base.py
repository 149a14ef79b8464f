"""The base of every API endpoint (authentication, scopes, rate limits with ``RateLimit-*`` headers,
problem details for errors) and the API's signed, opaque continuation tokens."""

import re
import time

from django.core import signing
from rest_framework.views import APIView

from .auth import ClientAuthentication, HasScopes
from .problems import BadRequest, Conflict, Gone, problem, problem_response  # noqa: F401 - the API's errors
from .throttles import ClientRateThrottle, TenantRateThrottle


class ApiView(APIView):
    """Base of every endpoint: declares ``required_scopes`` (a list, or ``{method: [scopes]}``)."""

    authentication_classes = [ClientAuthentication]
    permission_classes = [HasScopes]
    throttle_classes = [ClientRateThrottle, TenantRateThrottle]
    required_scopes = ()

    def initial(self, request, *args, **kwargs):
        self.rate_limits = []
        super().initial(request, *args, **kwargs)
        # PostgreSQL text cannot hold NUL: refuse it here, naming the parameter, rather than fail
        # in the database (after authentication and rate limits, so a 401/429 still comes first).
        bad = {name: "must not contain NUL characters" for name, value in request.query_params.lists()
               if any("\x00" in v for v in value)}  # fmt: skip
        if bad:
            raise BadRequest(bad)

    def scopes_for(self, method):
        scopes = self.required_scopes
        if isinstance(scopes, dict):
            return scopes.get(method, scopes.get("HEAD" if method == "GET" else method, ()))
        return scopes

    @property
    def actor(self):
        return self.request.actor

    @property
    def tenant_id(self):
        return self.request.api_client.tenant_id

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        limits = getattr(self, "rate_limits", [])
        if limits:
            tightest = min(limits, key=lambda throttle: throttle.remaining())
            response["RateLimit-Limit"] = str(tightest.num_requests)
            response["RateLimit-Remaining"] = str(tightest.remaining())
            response["RateLimit-Reset"] = str(tightest.reset())
        response.setdefault("Cache-Control", "private, no-store")
        return response


# --- continuation tokens ----------------------------------------------------------------------------
_SIGNER = signing.TimestampSigner(salt="holdfast.api.continuation")


def continuation_token(position):
    """An opaque, signed token for ``position`` (JSON-able): a client cannot forge or alter one."""
    return _SIGNER.sign_object(position, compress=True)


def read_continuation(token, field="continuationToken", max_age=24 * 3600):
    """The position a token stands for; 400 naming ``field`` when it was tampered with or expired."""
    try:
        return _SIGNER.unsign_object(token, max_age=max_age)
    except (signing.BadSignature, ValueError, TypeError):
        raise BadRequest({field: "not a continuation token this API issued (tampered with, or expired)"}) from None


def digits(text, most=18):
    """Whether ``text`` is a whole number in ASCII digits (``str.isdigit`` also takes "²", which
    ``int`` refuses), short enough for a bigint."""
    return bool(re.fullmatch(rf"[0-9]{{1,{most}}}", str(text)))


def now_epoch():
    return int(time.time())
