from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The bottom layer: the product's vocabulary; and where the libraries below every app get the
    small compatibility fixes they need."""

    name = "core"

    def ready(self):
        from . import compat

        compat.install()
