from django.apps import AppConfig


class PoliciesConfig(AppConfig):
    """Artifacts Lifecycle Policies and the retention sweep (built in a later issue)."""

    name = "policies"
