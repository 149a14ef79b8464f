"""Tenants created before lifecycle policies existed get the default schedule new tenants get."""

from django.db import migrations

DEFAULTS = (
    {
        "name": "Outbound dialer recordings",
        "artifact_type": "audio_recording",
        "direction": "outbound",
        "origin": "dialer",
        "delete_after_days": 30,
    },
    {"name": "Everything else", "is_default": True, "delete_after_days": 365},
)


def add_defaults(apps, schema_editor):
    Tenant = apps.get_model("accounts", "Tenant")
    LifecyclePolicy = apps.get_model("policies", "LifecyclePolicy")
    for tenant in Tenant.objects.exclude(lifecycle_policies__isnull=False):
        for fields in DEFAULTS:
            LifecyclePolicy.objects.create(tenant=tenant, updated_by="migration", **fields)


class Migration(migrations.Migration):
    dependencies = [("policies", "0001_initial")]

    operations = [migrations.RunPython(add_defaults, migrations.RunPython.noop)]
