"""bemi for SQLAlchemy: the current request's context on every change it makes.

Bind a context for the request (a middleware does it) and attach it one of two ways:

    bemi_context.comment_on_statements(engine)   # each statement carries a /*Bemi {...} Bemi*/ comment
    bemi_context.set_in_transaction(Session)     # each transaction starts with bemi_set_context(..., true)

    with bemi_context.bound(user_id=current_user.id, endpoint=request.path, method=request.method):
        ...  # the request's work
"""
import contextlib
import contextvars
import json

from sqlalchemy import event, text

# A ContextVar is per thread and per asyncio task: concurrent requests never see each other's.
_current = contextvars.ContextVar("bemi_context", default=None)
_SET_CONTEXT = text("SELECT bemi_set_context(CAST(:context AS jsonb), true)")


@contextlib.contextmanager
def bound(**context):
    token = _current.set(context)
    try:
        yield
    finally:
        _current.reset(token)


def _comment(context):
    # JSON with \u escapes for the characters that could end the comment ("*/"), open a nested
    # one ("/*": PostgreSQL's block comments nest) or meet the driver's %-formatting: no value can
    # leave the comment, and bemi decodes the escapes back.
    body = json.dumps(context, ensure_ascii=True)
    body = body.replace("*", "\\u002a").replace("/", "\\u002f").replace("%", "\\u0025")
    return " /*Bemi " + body + " Bemi*/"


def comment_on_statements(engine):
    """No extra round trip, and it works in autocommit too."""
    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def _add_comment(conn, cursor, statement, parameters, context, executemany):
        current = _current.get()
        if current:
            statement += _comment(current)
        return statement, parameters


def set_in_transaction(session_class):
    """One more statement per transaction; needs no statement hook (any driver, raw SQL)."""
    @event.listens_for(session_class, "after_begin")
    def _set_context(session, transaction, connection):
        current = _current.get()
        if current:
            connection.execute(_SET_CONTEXT, {"context": json.dumps(current)})
