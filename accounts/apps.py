from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Tenants, users, memberships, roles and their per-tenant grants."""

    name = "accounts"
    verbose_name = "Accounts"

    def ready(self):
        # Registers the deployment checks (``manage.py check --deploy``) and the audit of sign-in
        # lockouts (a django-axes signal receiver).
        from config import jobs

        from . import chain, checkpoints, checks, throttling  # noqa: F401

        # Hourly: each tenant's events since its last checkpoint are verified, then its head signed.
        jobs.register_periodic(jobs.PeriodicTask("audit_checkpoints", checkpoints.hourly, interval=3600, timeout=1800))
