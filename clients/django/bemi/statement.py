"""The statement hook: while a context is bound, every statement on a PostgreSQL connection
ends with it as a /*Bemi ... Bemi*/ comment.

Every statement, not only the ones that look like writes: WITH ... INSERT, MERGE and a SELECT
of a function that writes write too, and bemi reads the comment only where the server
actually changes rows. The comment travels inside the statement, so there is no extra round
trip and nothing stays on the server connection (PgBouncer transaction pooling is safe).
"""
from . import binding


def add_context(execute, sql, params, many, context):
    bound = binding.current()
    if bound is not None and not isinstance(sql, str) and hasattr(sql, "as_string"):
        # A composed statement (psycopg2.sql, psycopg.sql): rendered now, as the driver would,
        # so that it carries the context too.
        sql = sql.as_string(context["connection"].connection)
    if bound is not None and isinstance(sql, str):
        # The driver substitutes parameters (and turns '%%' into '%') only when it gets some;
        # Django passes None for SQL that must be sent verbatim.
        sql += bound.comment if params is None else bound.comment_for_params
    return execute(sql, params, many, context)


def install(sender, connection, **kwargs):
    """connection_created receiver. A DatabaseWrapper reconnects many times: install once."""
    if connection.vendor != "postgresql":
        return
    if add_context not in connection.execute_wrappers:
        connection.execute_wrappers.append(add_context)
