import json

from django.contrib.auth.models import User
from django.test import TestCase, TransactionTestCase

from bemi.models import Change
from bemi.testing import wait_for_changes

from .models import Todo


class TodoViewsTest(TestCase):
    """Plain tests run as before with bemi installed (a TestCase rolls back: nothing is captured)."""

    def setUp(self):
        self.client.force_login(User.objects.create_user("bob"))

    def post(self, task):
        return self.client.post("/todo", json.dumps({"task": task}), content_type="application/json")

    def test_create_complete_delete(self):
        todo_id = self.post("Sleep").json()["data"]["id"]
        self.assertEqual(self.client.put("/todo/%d/complete" % todo_id).status_code, 200)
        self.assertTrue(Todo.objects.get(pk=todo_id).is_completed)
        self.assertEqual(self.client.delete("/todo/%d" % todo_id).status_code, 200)
        self.assertFalse(Todo.objects.exists())

    def test_the_view_sees_its_request_context(self):
        context = self.post("Eat").json()["bemi"]
        self.assertEqual(context["path"], "/todo")
        self.assertEqual(context["method"], "POST")
        self.assertEqual(len(context["request_id"]), 36)


class TodoTrailTest(TransactionTestCase):
    """The trail needs committed changes: TransactionTestCase, then wait for capture."""

    def test_changes_carry_the_request(self):
        user = User.objects.create_user("carol")
        self.client.force_login(user)
        created = self.client.post("/todo", json.dumps({"task": "Repeat"}), content_type="application/json").json()
        self.client.put("/todo/%d/complete" % created["data"]["id"])
        wait_for_changes()
        todo = Todo.objects.get(pk=created["data"]["id"])
        changes = list(Change.objects.for_object(todo))
        self.assertEqual([c.operation for c in changes], ["CREATE", "UPDATE"])
        self.assertEqual(changes[0].context["request_id"], created["bemi"]["request_id"])
        self.assertEqual(changes[1].before["is_completed"], False)
        self.assertEqual(changes[1].after["is_completed"], True)
        self.assertEqual({c.context["user_id"] for c in changes}, {user.id})
