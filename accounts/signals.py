"""Signals the accounts app sends, so that apps above it can act without accounts importing them."""

from django.dispatch import Signal

#: Sent inside :func:`accounts.services.create_tenant`'s transaction with ``tenant`` and ``actor``:
#: apps give the new tenant what it starts with (the policies app: the default lifecycle policies).
tenant_created = Signal()
