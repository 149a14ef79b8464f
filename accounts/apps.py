from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Tenants, users, memberships, roles and their per-tenant grants."""

    name = "accounts"
    verbose_name = "Accounts"

    def ready(self):
        # Registers the deployment checks (``manage.py check --deploy``) and the audit of sign-in
        # lockouts (a django-axes signal receiver).
        from . import chain, checks, throttling  # noqa: F401
