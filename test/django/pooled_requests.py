"""django_pgbouncer.sh: one Django process of several, behind PgBouncer in transaction pooling
mode. Logs in as its own user and makes requests that write twice (the ORM, then raw SQL
recording the server connection it ran on): python pooled_requests.py PROCESS REQUESTS."""
import sys

from common import call, check

from django.contrib.auth.models import User
from django.db import connection
from django.http import JsonResponse
from django.test import Client
from django.test.utils import override_settings
from django.urls import path

import bemi
from todo.models import Todo


def pooled(request):
    todo = Todo.objects.create(task=request.GET["task"])
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO pooled (task, server_pid) VALUES (%s, pg_backend_pid())", [todo.task])
    return JsonResponse({"bemi": bemi.get_context()})


urlpatterns = [path("pooled", pooled)]

process, requests = int(sys.argv[1]), int(sys.argv[2])
user = User.objects.create_user("pool%d" % process)
client = Client()
client.force_login(user)
with override_settings(ROOT_URLCONF=__name__):
    for n in range(requests):
        status, body, _ = call(client, "get", "/pooled", {"task": "p%d-%d" % (process, n)})
        check(status == 200 and body["bemi"]["user_id"] == user.id, "process %d request %d" % (process, n), body)
