"""Every audit event is chained from now on: ``seq`` is required and unique per tenant."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("accounts", "0012_chain_existing_events")]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="seq",
            field=models.PositiveBigIntegerField(
                editable=False, help_text="1, 2, 3 ... per tenant.", verbose_name="sequence number"
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="prev_hash",
            field=models.CharField(editable=False, max_length=64, verbose_name="previous hash"),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(editable=False, max_length=64),
        ),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.UniqueConstraint(fields=("tenant", "seq"), name="audit_unique_seq_per_tenant"),
        ),
    ]
