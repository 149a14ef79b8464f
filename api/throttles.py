"""Rate limits per API client and per tenant, counted in Django's cache (Redis when configured, so
every web process shares the counts); a 429 with ``Retry-After`` means nothing was done."""

import math

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class _Throttle(SimpleRateThrottle):
    """Counts in Django's cache (Redis when configured, so every web process shares the counts)."""

    setting = ""

    def get_rate(self):
        return getattr(settings, self.setting)

    def parse_rate(self, rate):
        number, _, period = str(rate).partition("/")
        seconds = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}
        return int(number), seconds.get(period.lower(), 60)

    def allow_request(self, request, view):
        allowed = super().allow_request(request, view)
        if getattr(self, "key", None) is not None:
            view.rate_limits.append(self)
        return allowed

    def remaining(self):
        return max(0, self.num_requests - len(self.history))

    def reset(self):
        return math.ceil(self.duration - (self.now - self.history[-1])) if self.history else self.duration


class ClientRateThrottle(_Throttle):
    scope = "api_client"
    setting = "API_RATE_LIMIT"

    def get_cache_key(self, request, view):
        client = getattr(request, "api_client", None)
        return None if client is None else f"throttle:api:client:{client.client_id}"


class TenantRateThrottle(_Throttle):
    scope = "api_tenant"
    setting = "API_TENANT_RATE_LIMIT"

    def get_cache_key(self, request, view):
        client = getattr(request, "api_client", None)
        return None if client is None else f"throttle:api:tenant:{client.tenant_id}"
