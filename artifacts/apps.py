from django.apps import AppConfig


class ArtifactsConfig(AppConfig):
    """Artifacts (stored content of interactions) and the storage service."""

    name = "artifacts"
