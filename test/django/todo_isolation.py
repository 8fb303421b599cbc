"""django_todo.sh, part 2: contexts never cross requests (threads; async views under ASGI),
any context value round-trips exactly, and a failing or slow context function never breaks
a request."""
from common import call, check, last_change_id

import asyncio
import json
import logging
import threading
import time

from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connections
from django.test import AsyncClient, Client
from django.test.utils import override_settings

from bemi.models import Change
from bemi.testing import wait_for_changes
from todo_project.utils import get_bemi_context

call_command("migrate", verbosity=0)
first = last_change_id() + 1
THREADS = 6


def todo_changes(**filters):
    wait_for_changes()
    return list(Change.objects.filter(id__gte=first, table="todo", **filters).order_by("id"))


# ---- threads: every request's context function waits until all of them ran, so all
# contexts are bound at once before any view writes; a context kept anywhere but per
# thread would show up as another thread's user.
barrier = threading.Barrier(THREADS)


def context_after_barrier(request):
    values = get_bemi_context(request)
    barrier.wait(timeout=30)
    return values


users = [User.objects.create_user("user%d" % k, password="pw") for k in range(THREADS)]
results = {}


def worker(k):
    try:
        client = Client()
        client.force_login(users[k])
        results[k] = [call(client, "post", "/todo/batch", {"tag": "t%d-%d" % (k, n)}) for n in range(2)]
    finally:
        connections.close_all()


with override_settings(BEMI_CONTEXT_FUNCTION=context_after_barrier):
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
check(len(results) == THREADS, "a thread failed")
seen = 0
for k, rounds in results.items():
    for n, (status, body, _) in enumerate(rounds):
        check(status == 200 and body["bemi"]["user_id"] == users[k].id, "thread %d saw another context" % k, body)
        mine = todo_changes(context__request_id=body["bemi"]["request_id"])
        check(len(mine) == 8 and all(c.context["user_id"] == users[k].id and
                                     (c.after or c.before)["task"].startswith("t%d-%d-" % (k, n)) for c in mine),
              "thread %d round %d: changes" % (k, n), *[(str(c), c.context) for c in mine])
        seen += len(mine)
check(len(todo_changes(after__task__regex=r"^t\d") + todo_changes(operation="DELETE", before__task__regex=r"^t\d"))
      == seen == THREADS * 2 * 8, "threads: changes outside their own request", seen)
print("ok: %d threads at once, each change with its own request's context" % THREADS)


# ---- async views through the ASGI handler: the requests run as tasks on one event loop and
# their ORM calls share one worker thread, so neither a thread-local nor a global would do.
class Gate:
    def __init__(self, n):
        self.n, self.count, self.open = n, 0, asyncio.Event()

    async def wait(self):
        self.count += 1
        if self.count == self.n:
            self.open.set()
        await asyncio.wait_for(self.open.wait(), 30)


async def run_async():
    gate = Gate(THREADS)

    async def async_context(request):
        await gate.wait()
        return {"user_id": int(request.GET["u"]), "method": request.method, "path": request.path}

    client = AsyncClient()
    with override_settings(BEMI_CONTEXT_FUNCTION=async_context):
        responses = await asyncio.gather(*[
            client.post("/todo/async?u=%d" % k, data=json.dumps({"task": "a%d" % k, "pause": 0.05}),
                        content_type="application/json") for k in range(THREADS)])
    await sync_to_async(connections.close_all)()
    return [json.loads(r.content) for r in responses]


bodies = asyncio.run(run_async())
for k, body in enumerate(bodies):
    check(body["bemi"]["user_id"] == k and body["bemi"]["path"] == "/todo/async", "async view %d saw another context" % k, body)
    mine = todo_changes(context__request_id=body["bemi"]["request_id"])
    check([(c.after["task"], c.context["user_id"], c.context["method"]) for c in mine]
          == [("a%d-1" % k, k, "POST"), ("a%d-2" % k, k, "POST")], "async request %d: changes" % k,
          *[(str(c), c.context) for c in mine])
print("ok: %d async views at once under ASGI, each change with its own request's context" % THREADS)

# ---- values that could end the comment, quote, or be read as a driver placeholder.
NOTE = "*/ ; DROP TABLE todo; -- 100% %s %% %(x)s /* ' \" \\ Bemi*/ é 💥"
with override_settings(BEMI_CONTEXT_FUNCTION=lambda request: {"note": request.headers["X-Note"]}):
    status, body, _ = call(Client(), "post", "/todo/batch", {"tag": "note"}, HTTP_X_NOTE=NOTE)
check(status == 200 and body["bemi"]["note"] == NOTE, "the note request failed", status, body)
noted = todo_changes(context__request_id=body["bemi"]["request_id"])
check(len(noted) == 8 and all(c.context["note"] == NOTE for c in noted), "the note did not round-trip",
      *[c.context for c in noted])
check(Change.objects.filter(id__gte=first, context__has_key="_invalid_comment").count() == 0, "a comment was refused")
print("ok: a value with */, %, quotes and a Bemi*/ round-trips exactly, with and without parameters")


# ---- a raising and a slow context function: the request goes on with only its request_id.
class Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


records = Records()
logging.getLogger("bemi").addHandler(records)


def boom(request):
    raise RuntimeError("context function broke")


def slow(request):
    time.sleep(5)
    return {"user_id": "too late"}


for name, function, timeout in (("raising", boom, None), ("slow", slow, 0.5)):
    records.messages.clear()
    started = time.monotonic()
    with override_settings(BEMI_CONTEXT_FUNCTION=function, BEMI_CONTEXT_TIMEOUT=timeout):
        status, body, sent = call(Client(), "post", "/todo", {"task": name})
    elapsed = time.monotonic() - started
    check(status == 201 and set(body["bemi"]) == {"request_id"}, "%s context function broke the request" % name, body)
    check(elapsed < 3, "%s context function held the request for %.1fs" % (name, elapsed))
    check(len(records.messages) == 1 and "BEMI_CONTEXT_FUNCTION failed" in records.messages[0],
          "%s context function was not logged" % name, records.messages)
    change, = todo_changes(context__request_id=body["bemi"]["request_id"])
    check(set(change.context) == {"request_id", "SQL"} and change.after["task"] == name,
          "%s context function: change" % name, change.context)
print("ok: a raising and a slow (timed out) context function: logged, the request goes on with its request_id")
