"""django_todo.sh, part 1: the original README's walk-through through Django's test client —
login, three todos created, one completed, one deleted — and what bemi.changes then holds;
every way Django writes; the context API outside requests; the ORM's reading and time travel."""
from common import call, check, last_change_id, sent_without_comment

import datetime

from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

import bemi
from bemi.models import Change
from bemi.testing import wait_for_changes
from todo.models import Todo

call_command("migrate", verbosity=0)
first = last_change_id() + 1


def changes(**filters):
    wait_for_changes()
    return list(Change.objects.filter(id__gte=first, **filters).order_by("id"))


def statement(sent, prefix, commented=True):
    matching = [s for s in sent if s.startswith(prefix)]
    check(len(matching) == 1, "expected one statement starting with %r" % prefix, *sent)
    if not commented:
        check("/*Bemi" not in matching[0], "a statement outside any context carries a comment", matching[0])
        return matching[0]
    return sent_without_comment(matching[0])


@bemi.context(script="todo_trail")
def create_user():
    return User.objects.create_user("alice", password="secret")


alice = create_user()
client = Client()
status, body, login_sent = call(client, "post", "/login", {"username": "alice", "password": "secret"})
check(status == 200, "login failed: %s" % status)
login_request = body["bemi"]["request_id"]

requests = []  # (what, response body, statements sent)
for task in ("Sleep", "Eat", "Repeat"):
    status, body, sent = call(client, "post", "/todo", {"task": task})
    check(status == 201, "POST /todo: %s" % status)
    requests.append((("POST", "/todo", "/todo"), body, statement(sent, 'INSERT INTO "todo"')))
sleep_id, eat_id, repeat_id = (r[1]["data"]["id"] for r in requests)
status, body, sent = call(client, "put", "/todo/%d/complete" % sleep_id)
check(status == 200, "PUT complete: %s" % status)
requests.append((("PUT", "/todo/%d/complete" % sleep_id, "/todo/<int:pk>/complete"), body,
                 statement(sent, 'UPDATE "todo"')))
status, body, sent = call(client, "delete", "/todo/%d" % eat_id)
check(status == 200, "DELETE: %s" % status)
requests.append((("DELETE", "/todo/%d" % eat_id, "/todo/<int:pk>"), body, statement(sent, 'DELETE FROM "todo"')))
request_ids = [r[1]["bemi"]["request_id"] for r in requests]
check(len(set(request_ids)) == 5, "request ids are not distinct", request_ids)

trail = changes(table="todo")
check(len(trail) == 5, "expected exactly 5 changes of todo, got %d" % len(trail), *map(str, trail))


def row(pk, task, done):
    return {"id": pk, "task": task, "is_completed": done}


expected_images = [
    ("CREATE", {}, row(sleep_id, "Sleep", False)),
    ("CREATE", {}, row(eat_id, "Eat", False)),
    ("CREATE", {}, row(repeat_id, "Repeat", False)),
    ("UPDATE", row(sleep_id, "Sleep", False), row(sleep_id, "Sleep", True)),
    ("DELETE", row(eat_id, "Eat", False), {}),
]
for change, (operation, before, after), ((method, path, endpoint), body, sql) in zip(trail, expected_images, requests):
    expected_context = {"user_id": alice.id, "method": method, "path": path, "endpoint": endpoint,
                        "request_id": body["bemi"]["request_id"], "SQL": sql}
    check((change.schema, change.operation, change.before, change.after) == ("public", operation, before, after),
          "wrong change", str(change), change.before, change.after)
    check(change.context == expected_context, "wrong context", change.context, expected_context)
    check(body["bemi"] == {k: v for k, v in expected_context.items() if k != "SQL"},
          "the view saw another context", body["bemi"])
print("ok: the 5 changes of the walk-through, each with its request's context and statement")

# Django's own writes: the user created by a script; the login view's last_login and new
# session (login() creates it at once); the session saved again by SessionMiddleware after the
# view, which is outside bemi's middleware (listed after it), so without the request's context.
users = changes(table="auth_user")
check([c.operation for c in users] == ["CREATE", "UPDATE"], "auth_user changes", *map(str, users))
check(users[0].context == {"script": "todo_trail", "SQL": users[0].context.get("SQL")}
      and users[0].context["SQL"].startswith('INSERT INTO "auth_user"'), "user creation context", users[0].context)
login_context = {"user_id": None, "method": "POST", "path": "/login", "endpoint": "/login", "request_id": login_request}
check(users[1].context == dict(login_context, SQL=statement(login_sent, 'UPDATE "auth_user"')),
      "last_login context", users[1].context)
check(users[1].before["last_login"] is None and users[1].after["last_login"] is not None, "last_login images")
sessions = changes(table="django_session")
check([c.operation for c in sessions] == ["CREATE", "UPDATE"]
      and sessions[0].context == dict(login_context, SQL=statement(login_sent, 'INSERT INTO "django_session"'))
      and sessions[1].context == {"SQL": statement(login_sent, 'UPDATE "django_session"', commented=False)},
      "django_session changes", *[(str(c), c.context) for c in sessions])
print("ok: Django's own writes (auth_user, django_session) are in the trail")

# Every way Django writes, inside one transaction.atomic.
status, body, sent = call(client, "post", "/todo/batch", {"tag": "b%1"})
check(status == 200, "batch: %s" % status)
batch_id = body["bemi"]["request_id"]
# (the session and user are loaded while the context function runs, before the context is bound)
sent_sql = [sent_without_comment(s) for s in sent if "/*Bemi" in s]
batch = changes(table="todo", context__request_id=batch_id)
check([c.operation for c in batch] == ["CREATE", "CREATE", "UPDATE", "UPDATE", "CREATE", "CREATE", "CREATE", "DELETE"],
      "batch operations", *map(str, batch))
for change in batch:
    check(change.context["SQL"] in sent_sql and change.context["path"] == "/todo/batch"
          and change.context["user_id"] == alice.id, "batch change context", change.context, *sent_sql)
check([c.after.get("task") for c in batch if c.operation == "CREATE"] == ["b%1-bulk-1", "b%1-bulk-2", "b%1-raw-params",
                                                                          "b%1-raw-composed", "b%1-raw-plain"], "batch rows")
print("ok: bulk_create, update(), raw SQL with and without parameters and composed, delete() in atomic: all with the context")

# Outside requests: a block, nested, and a decorator.
with bemi.context({"job": "nightly", "n": 1}):
    with bemi.context(n=2):
        Todo.objects.create(task="nested")
    Todo.objects.filter(task="nested").update(is_completed=True)
Todo.objects.create(task="no context")
job = changes(table="todo", after__task__in=["nested", "no context"])
check([(c.context.get("job"), c.context.get("n")) for c in job] == [("nightly", 2), ("nightly", 1), (None, None)]
      and set(job[2].context) == {"SQL"}, "bemi.context blocks", *[c.context for c in job])
print("ok: bemi.context() as a block, nested, and none after it")

# Reading: the queryset helpers.
sleep = Todo(pk=sleep_id, task="Sleep", is_completed=True)
check([c.operation for c in Change.objects.for_object(sleep)] == ["CREATE", "UPDATE"], "for_object")
check(Change.objects.for_model(Todo).filter(id__gte=first).count() == 5 + 8 + 3, "for_model")
check(Change.objects.for_request(request_ids[3]).count() == 1, "for_request")
check(Change.objects.for_user(alice.id).filter(id__gte=first).count() == 5 + 8, "for_user")
t0, t1 = trail[0].committed_at, trail[3].committed_at
check(Change.objects.between(t0, t1).for_model(Todo).count() == 3, "between")
print("ok: for_object, for_model, for_request, for_user, between")

# Time travel: before the completion, Sleep was open and Eat still there.
instant = trail[2].committed_at + datetime.timedelta(microseconds=1)
then = {t.id: (t.task, t.is_completed) for t in Todo.objects.as_of(instant)}
check(then == {sleep_id: ("Sleep", False), eat_id: ("Eat", False), repeat_id: ("Repeat", False)}, "as_of", then)
entries = Todo.objects.history(sleep_id)
check([(e.operation, e.diff) for e in entries] == [
    ("CREATE", {"id": [None, sleep_id], "task": [None, "Sleep"], "is_completed": [None, False]}),
    ("UPDATE", {"is_completed": [False, True]})], "history", [(e.operation, e.diff) for e in entries])
plan = bemi.revert_request(request_ids[4])
check([(p["action"], p["table"], p["primary_key"], p["conflict"]) for p in plan] == [("INSERT", "todo", str(eat_id), None)],
      "revert_request", plan)
check(Todo.objects.filter(pk=eat_id, task="Eat", is_completed=False).exists(), "the deleted todo is not back")
print("ok: as_of, history with diffs, revert of one request")
