from django.apps import AppConfig


class IngestionConfig(AppConfig):
    """Ingestion from contact-center systems (Twilio Flex): connections, the ingestion job kind and
    its schedule, contact-status webhooks, and the ingestion source as an actor kind."""

    name = "ingestion"
    verbose_name = "Ingestion"

    def ready(self):
        from . import actors, jobs

        actors.register()
        jobs.register()
