from django.apps import AppConfig


class InteractionsConfig(AppConfig):
    """Interactions: one contact each (call, chat, email, ...) of a tenant."""

    name = "interactions"
