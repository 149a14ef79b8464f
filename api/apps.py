from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The REST API v1 for integrators (top layer, beside the workspace); registers API clients as
    actors that background work can act for."""

    name = "api"
    verbose_name = "REST API"

    def ready(self):
        from . import actors, schema_extensions  # noqa: F401 - registers the OpenAPI security scheme

        actors.register()
