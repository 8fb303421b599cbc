"""The psycopg 3 recipe end to end: two requests, a write outside any request on the same
connection, then history and time travel read back. Runs against a database with bemi and
the todo table, on a sync or an async connection:

    python3 app.py "dbname=app" sync        # or: ... async
"""
import asyncio
import sys

import psycopg
from psycopg.types.json import Jsonb

import bemi_psycopg

NOTE = "it's 100% \"done\" */ DROP TABLE todo; /* %s"


def requests(conn):
    with bemi_psycopg.transaction(conn, {"user_id": 187234, "endpoint": "/todo", "method": "POST", "note": NOTE}):
        conn.execute("INSERT INTO todo (task) VALUES (%s), (%s), (%s)", ["Sleep", "Eat", "Repeat"])
    between_requests = conn.execute("SELECT clock_timestamp()").fetchone()[0]
    with bemi_psycopg.transaction(conn, {"user_id": 42, "endpoint": "/todo/bulk", "method": "PATCH"}):
        conn.execute("UPDATE todo SET is_completed = true WHERE id = ANY(%s)", [[1, 2]])
        conn.execute("DELETE FROM todo WHERE id = %s", [3])
    conn.execute("INSERT INTO todo (task) VALUES (%s)", ["Code"])  # outside a request: no context
    return between_requests


async def arequests(conn):
    async with bemi_psycopg.atransaction(conn, {"user_id": 187234, "endpoint": "/todo", "method": "POST", "note": NOTE}):
        await conn.execute("INSERT INTO todo (task) VALUES (%s), (%s), (%s)", ["Sleep", "Eat", "Repeat"])
    between_requests = (await (await conn.execute("SELECT clock_timestamp()")).fetchone())[0]
    async with bemi_psycopg.atransaction(conn, {"user_id": 42, "endpoint": "/todo/bulk", "method": "PATCH"}):
        await conn.execute("UPDATE todo SET is_completed = true WHERE id = ANY(%s)", [[1, 2]])
        await conn.execute("DELETE FROM todo WHERE id = %s", [3])
    await conn.execute("INSERT INTO todo (task) VALUES (%s)", ["Code"])
    return between_requests


def read_back(conn, between_requests):
    conn.execute("SELECT bemi.sync()")  # wait until bemi has stored what we wrote
    history = conn.execute("SELECT operation, diff, context->>'user_id' FROM bemi.history('todo', %s)", ["2"])
    for operation, diff, user_id in history:
        print(operation, diff, user_id)
    past = conn.execute("SELECT * FROM bemi.as_of(NULL::todo, %s) ORDER BY id", [between_requests])
    for todo in past:
        print(*todo)
    mine = conn.execute("SELECT primary_key, operation FROM bemi.changes WHERE context @> %s ORDER BY commit_position, seq",
                        [Jsonb({"user_id": 42})])
    for primary_key, operation in mine:
        print(primary_key, operation)


async def main_async(dsn):
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        return await arequests(conn)


dsn, mode = sys.argv[1], sys.argv[2]
if mode == "sync":
    with psycopg.connect(dsn, autocommit=True) as conn:
        instant = requests(conn)
else:
    instant = asyncio.run(main_async(dsn))
with psycopg.connect(dsn, autocommit=True) as conn:
    read_back(conn, instant)
