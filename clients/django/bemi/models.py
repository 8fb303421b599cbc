"""The audit trail, read through the ORM: Change is bemi.changes (unmanaged: bemi fills it)."""
from django.contrib.postgres.fields import ArrayField
from django.db import connections, models


def _table_of(model_or_obj, using):
    """(schema, table) as bemi.changes names the model's table: where search_path finds it."""
    table = model_or_obj._meta.db_table
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.oid = pg_catalog.to_regclass(%s)",
            [connections[using].ops.quote_name(table)])
        row = cursor.fetchone()
    return row if row is not None else (None, table)


class ChangeQuerySet(models.QuerySet):
    def for_model(self, model):
        schema, table = _table_of(model, self.db)
        qs = self.filter(table=table)
        return qs.filter(schema=schema) if schema is not None else qs.exclude(schema="bemi")

    def for_object(self, obj):
        # bemi writes a one-column key as the value's text: str() of an int, a UUID or a str.
        return self.for_model(type(obj)).filter(primary_key=str(obj.pk))

    def for_request(self, request_id):
        return self.filter(context__contains={"request_id": str(request_id)})

    def for_user(self, user_id, key="user_id"):
        return self.filter(context__contains={key: user_id})

    def between(self, start, end):
        """Committed in [start, end)."""
        return self.filter(committed_at__gte=start, committed_at__lt=end)

    def without_bemi(self):
        """Leaves out bemi's own tables (their changes are recorded too)."""
        return self.exclude(schema="bemi")


class Change(models.Model):
    id = models.BigIntegerField(primary_key=True)
    primary_key = models.TextField(null=True)
    before = models.JSONField()
    after = models.JSONField()
    context = models.JSONField()
    database = models.TextField()
    schema = models.TextField()
    table = models.TextField()
    operation = models.TextField()
    committed_at = models.DateTimeField()
    transaction_id = models.BigIntegerField()
    seq = models.IntegerField()
    position = models.BigIntegerField()
    commit_position = models.BigIntegerField()
    created_at = models.DateTimeField()
    previous_primary_key = models.TextField(null=True)
    unchanged_toast = ArrayField(models.TextField(), null=True)
    actor = models.JSONField(null=True)
    fallback = models.JSONField(null=True)
    capture = models.UUIDField(null=True)

    objects = ChangeQuerySet.as_manager()

    class Meta:
        managed = False
        # Quoted so that it is bemi.changes whatever the search_path (Django quotes the whole name).
        db_table = 'bemi"."changes'
        ordering = ["committed_at", "id"]

    def __str__(self):
        return "%s %s.%s %s at %s" % (self.operation, self.schema, self.table, self.primary_key, self.committed_at)
