import asyncio
import json

from asgiref.sync import sync_to_async
from django.contrib.auth import authenticate, login
from django.db import connection, transaction
from django.http import HttpResponseBadRequest, JsonResponse
from django.views.decorators.http import require_http_methods
from psycopg2 import sql

import bemi

from .models import Todo


def _body(request):
    return json.loads(request.body or b"{}")


def _todo(todo):
    return {"id": todo.id, "task": todo.task, "is_completed": todo.is_completed}


def _reply(data, request, status=200):
    # The context the request's statements carried, so a client can see it was its own.
    return JsonResponse({"data": data, "bemi": bemi.get_context()}, status=status)


@require_http_methods(["POST"])
def login_view(request):
    body = _body(request)
    user = authenticate(request, username=body.get("username"), password=body.get("password"))
    if user is None:
        return HttpResponseBadRequest("bad credentials")
    login(request, user)
    return _reply({"user_id": user.id}, request)


@require_http_methods(["GET", "POST"])
def todos(request):
    if request.method == "POST":
        return _reply(_todo(Todo.objects.create(task=_body(request)["task"])), request, status=201)
    return _reply([_todo(t) for t in Todo.objects.order_by("id")], request)


@require_http_methods(["PUT"])
def complete(request, pk):
    todo = Todo.objects.get(pk=pk)
    todo.is_completed = True
    todo.save(update_fields=["is_completed"])
    return _reply(_todo(todo), request)


@require_http_methods(["DELETE"])
def delete_todo(request, pk):
    Todo.objects.filter(pk=pk).delete()
    return _reply(None, request)


@require_http_methods(["POST"])
def batch(request):
    """Every way Django writes: bulk_create, update(), raw SQL with and without parameters and composed,
    delete(), all inside one transaction.atomic."""
    tag = _body(request)["tag"]
    with transaction.atomic():
        Todo.objects.bulk_create([Todo(task=tag + "-bulk-1"), Todo(task=tag + "-bulk-2")])
        Todo.objects.filter(task__startswith=tag + "-bulk").update(is_completed=True)
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO todo (task, is_completed) VALUES (%s, false)", [tag + "-raw-params"])
            # A composed statement (psycopg2.sql), as code that quotes identifiers writes it.
            cursor.execute(sql.SQL("INSERT INTO {} (task, is_completed) VALUES (%s, false)").format(
                sql.Identifier("todo")), [tag + "-raw-composed"])
            # No parameters: the driver sends this text as it is, '%' included.
            cursor.execute("INSERT INTO todo (task, is_completed) VALUES ('%s-raw-plain', false)"
                           % tag.replace("'", "''"))
        Todo.objects.filter(task=tag + "-bulk-2").delete()
    return _reply([_todo(t) for t in Todo.objects.filter(task__startswith=tag).order_by("id")], request)


async def async_create(request):
    """An async view: its ORM calls run in a worker thread, with the request's context."""
    body = json.loads(request.body)
    first = await sync_to_async(Todo.objects.create)(task=body["task"] + "-1")
    await asyncio.sleep(float(body.get("pause", 0)))
    second = await sync_to_async(Todo.objects.create)(task=body["task"] + "-2")
    return JsonResponse({"data": [_todo(first), _todo(second)], "bemi": bemi.get_context()}, status=201)
