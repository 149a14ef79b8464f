"""The Content-Security-Policy middleware: django-csp's, plus documented per-path relaxations.

The policy itself is ``CONTENT_SECURITY_POLICY`` in settings. A few third-party admin pages need
one directive relaxed; ``CONTENT_SECURITY_POLICY_PATH_EXCEPTIONS`` maps a path prefix to the
directives that replace the policy's there (and nowhere else). A response that already carries a
policy keeps it (django-csp never overwrites one): content downloads send their own sandbox policy.
"""

from csp.middleware import CSPMiddleware
from django.conf import settings


class PathExceptionsCSPMiddleware(CSPMiddleware):
    """django-csp's middleware, with the directives of a matching path exception replacing the policy's."""

    def get_policy_parts(self, request, response, report_only=False):
        """The policy parts django-csp builds the header from, with this path's replacements."""
        parts = super().get_policy_parts(request, response, report_only)
        if report_only:
            return parts
        for prefix, directives in getattr(settings, "CONTENT_SECURITY_POLICY_PATH_EXCEPTIONS", {}).items():
            if request.path_info.startswith(prefix):
                # A view's own replacements (django-csp decorators) still win over the path's.
                parts.replace = {**directives, **(parts.replace or {})}
        return parts
