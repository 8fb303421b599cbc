"""What `migrate bemi` does to the database, and what it tells a DBA when it may not.

Everything here runs in autocommit (the migration is non-atomic): CREATE EXTENSION must commit
before bemi's worker starts capturing, and bemi.sync() then waits for it.
"""
import sys

from django.apps import apps
from django.conf import settings
from django.core.management.base import CommandError
from django.db import DatabaseError, connections


class BemiNotReady(CommandError):
    """The database cannot capture yet; the message holds the SQL a DBA must run."""


def _one(cursor, sql, params=()):
    cursor.execute(sql, params)
    row = cursor.fetchone()
    return row[0] if row is not None else None


def _setting(cursor, name):
    # pg_settings hides what this role may not read (shared_preload_libraries needs superuser
    # or pg_read_all_settings): None then, as for a setting this server does not know.
    return _one(cursor, "SELECT setting FROM pg_catalog.pg_settings WHERE name = %s", [name])


def _libraries(value):
    return [part.strip().strip('"') for part in (value or "").split(",") if part.strip()]


def _with_bemi(value):
    # A list setting takes one quoted string per element: ALTER SYSTEM SET x = 'a, b' would
    # set the single library "a, b".
    return ", ".join(_quote_literal(name) for name in _libraries(value) + ["bemi"])


def _quote_literal(text):
    return "'" + text.replace("'", "''") + "'"


class State:
    """What the server and this database have, as the connected role sees it."""

    def __init__(self, connection):
        self.connection = connection
        with connection.cursor() as cursor:
            self.role = _one(cursor, "SELECT current_user")
            self.database = _one(cursor, "SELECT current_database()")
            self.superuser = bool(_one(cursor, "SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user"))
            self.wal_level = _one(cursor, "SHOW wal_level")
            self.preload = _setting(cursor, "shared_preload_libraries")
            # bemi's settings exist in a session only once the library is loaded; nothing in
            # this session has called bemi yet, so they are there only if it is preloaded.
            self.bemi_loaded = bool(_one(cursor, "SELECT count(*) FROM pg_catalog.pg_settings WHERE name LIKE 'bemi.%%'"))
            self.output_plugins = _setting(cursor, "output_plugin_libraries")
            self.available = _one(cursor, "SELECT default_version FROM pg_catalog.pg_available_extensions WHERE name = 'bemi'")
            self.installed = _one(cursor, "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'bemi'")
            self.reader = self.superuser or bool(_one(
                cursor, "SELECT pg_catalog.pg_has_role(current_user, oid, 'USAGE') FROM pg_catalog.pg_roles "
                        "WHERE rolname = 'bemi_reader'"))

    def server_problems(self):
        """(what, SQL) for each server setting bemi needs and does not have."""
        problems = []
        if self.wal_level != "logical":
            problems.append(("wal_level is %s, bemi reads the WAL's logical records" % self.wal_level,
                             "ALTER SYSTEM SET wal_level = logical;  -- then restart PostgreSQL"))
        if self.preload is not None:
            preloaded, value = "bemi" in _libraries(self.preload), _with_bemi(self.preload)
        else:  # not readable by this role
            preloaded, value = self.bemi_loaded, "<each library SHOW shared_preload_libraries shows, quoted>, 'bemi'"
        if not preloaded:
            problems.append(("bemi is not in shared_preload_libraries (its hooks and workers start with the server)",
                             "ALTER SYSTEM SET shared_preload_libraries = %s;  -- then restart PostgreSQL" % value))
        if self.output_plugins is not None and "bemi" not in _libraries(self.output_plugins):
            problems.append(("bemi is not in output_plugin_libraries (this server lets only listed libraries decode)",
                             "ALTER SYSTEM SET output_plugin_libraries = %s;  -- then restart PostgreSQL"
                             % _with_bemi(self.output_plugins)))
        return problems

    def database_problems(self):
        problems = []
        # A superuser creates the extension itself once the server is configured.
        if self.installed is None and not (self.superuser and self.available is not None):
            if self.available is None:
                problems.append(("bemi is not installed on the database server (no bemi.control)",
                                 "-- on the server: docker/install.sh (or make && make install) from bemi's checkout"))
            problems.append(('the extension bemi is not in database "%s" and role "%s" may not create it '
                             "(only superusers can)" % (self.database, self.role),
                             '\\c %s\nCREATE EXTENSION bemi;' % self.connection.ops.quote_name(self.database)))
        if not self.reader:
            problems.append(('role "%s" may not read the audit trail (bemi.changes)' % self.role,
                             "GRANT bemi_reader TO %s;" % self.connection.ops.quote_name(self.role)))
        return problems


def explain(problems, database):
    lines = ['bemi cannot capture changes in database "%s" yet.' % database,
             "A DBA must fix the following, then run `python manage.py migrate bemi` again:", ""]
    for n, (what, sql) in enumerate(problems, 1):
        lines.append("%d. %s:" % (n, what))
        lines.extend("       " + line for line in sql.splitlines())
    return "\n".join(lines)


def install(using="default", out=None):
    """The forward step of migration 0001."""
    out = out or sys.stdout
    connection = connections[using]
    if connection.vendor != "postgresql":
        raise BemiNotReady("bemi needs PostgreSQL (database %r is %s)" % (using, connection.vendor))
    state = State(connection)
    problems = state.server_problems()
    created = False
    if not problems and state.installed is None and state.superuser and state.available is not None:
        with connection.cursor() as cursor:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS bemi")
        created = True
        state = State(connection)
    problems += state.database_problems()
    if problems:
        raise BemiNotReady(explain(problems, state.database))
    out.write("\n  bemi: extension %s %s in database %s\n"
              % (state.installed, "created" if created else "present", state.database))
    set_replica_identity_full(using, out)
    wait_for_capture(using)
    out.write("  bemi: capture is running\n")


def wait_for_capture(using="default", timeout="30 seconds"):
    with connections[using].cursor() as cursor:
        try:
            synced = _one(cursor, "SELECT bemi.sync(%s::interval)", [timeout])
        except DatabaseError as exc:  # e.g. no worker slot: the server's message says what to do
            raise BemiNotReady("bemi's capture is not running in this database: %s" % str(exc).strip()) from exc
        if not synced:
            status = _one(cursor, "SELECT row_to_json(s)::text FROM bemi.status s") if _can_read_status(cursor) else None
            raise BemiNotReady("bemi's capture did not start or catch up within %s (bemi.status: %s)"
                               % (timeout, status or "not readable by this role"))


def _can_read_status(cursor):
    return bool(_one(cursor, "SELECT pg_catalog.has_table_privilege('bemi.status', 'SELECT')"))


def uninstall(using="default", out=None):
    """The backward step: the extension holds the audit trail, so it stays."""
    out = out or sys.stdout
    out.write("\n  bemi: kept the extension bemi and its audit trail (bemi.changes): dropping it would delete "
              "the trail.\n  bemi: to remove both, a superuser runs: DROP EXTENSION bemi;\n"
              "  bemi: tables keep REPLICA IDENTITY FULL.\n")


def project_tables(connection):
    return connection.introspection.django_table_names(only_existing=True, include_views=False)


def set_replica_identity_full(using="default", out=None):
    """REPLICA IDENTITY FULL (complete "before" images) on the project's tables and their
    partitions; prints the DBA's SQL for the ones this role does not own."""
    if not getattr(settings, "BEMI_REPLICA_IDENTITY_FULL", True):
        return
    out = out or sys.stdout
    connection = connections[using]
    tables = project_tables(connection)
    if not tables:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_catalog.format('%%I.%%I', n.nspname, c.relname), "
            "       pg_catalog.pg_has_role(c.relowner, 'USAGE') "
            "  FROM (SELECT pg_catalog.to_regclass(pg_catalog.quote_ident(t)) AS rel "
            "          FROM pg_catalog.unnest(%s::text[]) AS t) r "
            "  CROSS JOIN LATERAL (SELECT r.rel::oid AS relid "
            "                      UNION SELECT relid FROM pg_catalog.pg_partition_tree(r.rel)) p "
            "  JOIN pg_catalog.pg_class c ON c.oid = p.relid "
            "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            " WHERE c.relkind IN ('r', 'p') AND c.relreplident <> 'f' "
            " ORDER BY 1", [list(tables)])
        missing = cursor.fetchall()
        denied = []
        for name, owned in missing:
            if owned:
                cursor.execute("ALTER TABLE %s REPLICA IDENTITY FULL" % name)
            else:
                denied.append(name)
    if denied:
        out.write("  bemi: role %s does not own these tables; for complete \"before\" images a DBA runs:\n"
                  % connection.settings_dict.get("USER", "") +
                  "".join("      ALTER TABLE %s REPLICA IDENTITY FULL;\n" % name for name in denied))


def extension_installed(connection):
    with connection.cursor() as cursor:
        return _one(cursor, "SELECT count(*) FROM pg_catalog.pg_extension WHERE extname = 'bemi'") == 1


def after_migrate(sender, using="default", verbosity=1, **kwargs):
    """post_migrate: tables the project created since get REPLICA IDENTITY FULL too."""
    connection = connections[using]
    if connection.vendor != "postgresql" or not extension_installed(connection):
        return
    if not apps.is_installed("bemi"):
        return
    set_replica_identity_full(using, sys.stdout if verbosity else _Null())


class _Null:
    def write(self, text):
        pass
