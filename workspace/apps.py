from django.apps import AppConfig


class WorkspaceConfig(AppConfig):
    """The top layer: composite pages that combine interactions, artifacts, locks and policies
    (the interactions list, an interaction's page, the CSV export), the demo data, and the
    support admin of interactions."""

    name = "workspace"
