import django.contrib.postgres.fields
from django.db import migrations, models


def install(apps, schema_editor):
    from bemi.database import install
    install(schema_editor.connection.alias)


def keep(apps, schema_editor):
    from bemi.database import uninstall
    uninstall(schema_editor.connection.alias)


class Migration(migrations.Migration):
    # CREATE EXTENSION must commit before bemi's worker can start capturing (bemi.sync()).
    atomic = False
    initial = True
    dependencies = []

    operations = [
        migrations.RunPython(install, keep),
        # The audit trail, read-only: bemi.changes belongs to the extension.
        migrations.CreateModel(
            name="Change",
            fields=[
                ("id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("primary_key", models.TextField(null=True)),
                ("before", models.JSONField()),
                ("after", models.JSONField()),
                ("context", models.JSONField()),
                ("database", models.TextField()),
                ("schema", models.TextField()),
                ("table", models.TextField()),
                ("operation", models.TextField()),
                ("committed_at", models.DateTimeField()),
                ("transaction_id", models.BigIntegerField()),
                ("seq", models.IntegerField()),
                ("position", models.BigIntegerField()),
                ("commit_position", models.BigIntegerField()),
                ("created_at", models.DateTimeField()),
                ("previous_primary_key", models.TextField(null=True)),
                ("unchanged_toast", django.contrib.postgres.fields.ArrayField(
                    base_field=models.TextField(), null=True, size=None)),
                ("actor", models.JSONField(null=True)),
                ("fallback", models.JSONField(null=True)),
                ("capture", models.UUIDField(null=True)),
            ],
            options={
                "db_table": 'bemi"."changes',
                "ordering": ["committed_at", "id"],
                "managed": False,
            },
        ),
    ]
