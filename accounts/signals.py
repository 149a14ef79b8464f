"""Signals the accounts app sends, so that apps above it can act without accounts importing them."""

from django.dispatch import Signal

#: Sent inside :func:`accounts.services.create_tenant`'s transaction with ``tenant`` and ``actor``:
#: apps give the new tenant what it starts with (the policies app: the default lifecycle policies).
tenant_created = Signal()

#: Sent inside :func:`accounts.services.update_tenant`'s transaction, the tenant's row locked, before
#: its storage region changes, with ``tenant`` (still in its old region) and ``region`` (the new one).
#: A receiver returns why the region cannot change (the tenant holds content there), or None.
tenant_region_changing = Signal()
