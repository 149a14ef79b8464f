from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Tenants, users, memberships, roles and their per-tenant grants."""

    name = "accounts"
    verbose_name = "Accounts"

    def ready(self):
        # Registers the deployment checks (``manage.py check --deploy``).
        from . import checks  # noqa: F401
