from django.apps import AppConfig


class EvidenceConfig(AppConfig):
    """Configuration > Audit Trail: the tenant's hash-chained trail, its status and its exports."""

    name = "evidence"
    verbose_name = "Evidence"
