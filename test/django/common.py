"""Shared by the Django test drivers: the example project set up against the test server."""
import json
import os
import sys

EXAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "django_todo")
sys.path.insert(0, os.path.abspath(EXAMPLE))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "todo_project.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

sys.stdout.reconfigure(line_buffering=True)
COMMENT_START = "\n/*Bemi "


def check(condition, message, *details):
    if not condition:
        print("FAIL: " + message, *details, file=sys.stderr, sep="\n  ")
        sys.exit(1)


def last_change_id():
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM bemi.changes")
        return cursor.fetchone()[0]


def sent_without_comment(sql):
    """What bemi records as "SQL": the statement as the server got it, without our comment."""
    check(sql.endswith(" Bemi*/") and COMMENT_START in sql, "a statement went out without the context comment", sql)
    return sql.rsplit(COMMENT_START, 1)[0]


def call(client, method, path, body=None, **extra):
    """One request through the test client; returns (status, JSON body, statements sent).
    A GET's body is its query string."""
    if method == "get":
        body, data = None, body
    else:
        data = json.dumps(body) if body is not None else ""
    with CaptureQueriesContext(connection) as queries:
        response = getattr(client, method)(path, data=data, content_type="application/json", **extra)
    payload = json.loads(response.content) if response["Content-Type"] == "application/json" else None
    return response.status_code, payload, [q["sql"] for q in queries.captured_queries]
