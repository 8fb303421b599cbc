"""Time travel from the ORM over bemi's SQL functions (docs/time-travel.md): the rows as of an
instant as model instances, a record's history with diffs, every version in a window, and the
revert of one request. Each is one call of bemi's function; what it refuses (an instant
before the table's history, a capture gap, ...) is raised as that function's error."""
import json

from django.db import connections, models, router, transaction


def _type_name(model, using):
    return connections[using].ops.quote_name(model._meta.db_table)


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def as_of(model, instant, using=None):
    """The table's rows as they were at `instant` (an aware datetime, or a commit position such
    as '0/1A2B3C4' as a string), as unsaved-looking instances of `model`."""
    using = using or router.db_for_read(model)
    cast = "%s::timestamptz" if hasattr(instant, "tzinfo") else "%s::text"
    sql = "SELECT * FROM bemi.as_of(NULL::%s, %s) AS t ORDER BY %s" % (
        _type_name(model, using), cast, connections[using].ops.quote_name(model._meta.pk.column))
    return list(model._default_manager.db_manager(using).raw(sql, [instant]))


def versions(model, start=None, end=None, using=None):
    """Every version of every row valid in [start, end): instances with valid_from / valid_to."""
    using = using or router.db_for_read(model)
    sql = ("SELECT * FROM bemi.versions(NULL::%s, coalesce(%%s::timestamptz, '-infinity'), "
           "coalesce(%%s::timestamptz, 'infinity'))" % _type_name(model, using))
    return list(model._default_manager.db_manager(using).raw(sql, [start, end]))


def history(obj, using=None):
    """The stored changes of one record in commit order (following key changes), each a Change
    with `diff` ({"column": [old, new]})."""
    from .models import Change

    model = type(obj)
    using = using or router.db_for_read(model)
    sql = "SELECT * FROM bemi.history(%s::regclass, %s)"
    entries = list(Change.objects.db_manager(using).raw(sql, [_type_name(model, using), str(obj.pk)]))
    for entry in entries:
        entry.diff = _json(entry.diff)
    return entries


def revert(using="default", dry_run=False, skip_conflicts=False, **selection):
    """bemi.revert() with its selection (transaction_ids, context, from_time, to_time), in one
    transaction; returns its plan as dicts (change_id, schema, table, primary_key, action,
    conflict). Without skip_conflicts a conflict fails the whole revert."""
    names = {"transaction_ids": "%s::int8[]", "context": "%s::jsonb",
             "from_time": "%s::timestamptz", "to_time": "%s::timestamptz"}
    args, params = [], []
    for name, value in selection.items():
        if name not in names:
            raise TypeError("revert() got an unexpected selection %r" % name)
        args.append("%s => %s" % (name, names[name]))
        params.append(json.dumps(value) if name == "context" else value)
    args += ["dry_run => %s", "skip_conflicts => %s"]
    params += [dry_run, skip_conflicts]
    sql = ('SELECT change_id, schema, "table", primary_key, action, conflict FROM bemi.revert(%s)'
           % ", ".join(args))
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        columns = [c[0] for c in cursor.description]
        return [dict(zip(columns, row)) for row in cursor.fetchall()]


def revert_request(request_id, **options):
    """Undoes every change one request made (its request_id in the context)."""
    return revert(context={"request_id": str(request_id)}, **options)


class TimeTravelManager(models.Manager):
    """objects = bemi.TimeTravelManager(): Todo.objects.as_of(t), .versions(t1, t2), .history(pk)."""

    def as_of(self, instant):
        return as_of(self.model, instant, using=self.db)

    def versions(self, start=None, end=None):
        return versions(self.model, start, end, using=self.db)

    def history(self, obj_or_pk):
        obj = obj_or_pk if isinstance(obj_or_pk, self.model) else self.model(pk=obj_or_pk)
        return history(obj, using=self.db)
