"""bemi for psycopg 3: a request's transaction that starts by setting its context.

    with bemi_psycopg.transaction(conn, {"user_id": 42, "endpoint": "/todo", "method": "PATCH"}):
        conn.execute("UPDATE todo SET is_completed = true WHERE id = ANY(%s)", [[1, 2]])

    async with bemi_psycopg.atransaction(aconn, context):
        await aconn.execute(...)

The connection must be in autocommit mode (psycopg.connect(..., autocommit=True)): then
conn.transaction() is the whole transaction, and the context, set with is_local => true, ends
with it. Without autocommit, a transaction already open makes conn.transaction() a savepoint,
and the context would last until that outer transaction ends.
"""
import contextlib

from psycopg.types.json import Jsonb

_SET_CONTEXT = "SELECT bemi_set_context(%s, true)"


@contextlib.contextmanager
def transaction(conn, context):
    with conn.transaction():
        conn.execute(_SET_CONTEXT, [Jsonb(context)])
        yield conn


@contextlib.asynccontextmanager
async def atransaction(conn, context):
    async with conn.transaction():
        await conn.execute(_SET_CONTEXT, [Jsonb(context)])
        yield conn
