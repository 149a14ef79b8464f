"""Logging helpers referenced from ``LOGGING`` in the settings."""

import logging

from django.core.exceptions import PermissionDenied


class RefusalsWithoutTraceback(logging.Filter):
    """A 403 is the product working (a permission is missing), not a crash: log its one line, the
    path and the missing permission, without a stack trace."""

    def filter(self, record):
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, PermissionDenied):
            record.msg = f"{record.msg} — {exc}"
            record.exc_info = record.exc_text = None
        return True
