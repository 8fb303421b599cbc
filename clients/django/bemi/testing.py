"""For a project's tests that assert on the audit trail.

bemi records a change when its transaction commits, and its worker stores it a moment later.
So such tests use TransactionTestCase (a TestCase rolls back: nothing is ever committed, nothing
captured) and call wait_for_changes() before reading Change.
"""
from django.db import connections

from .database import wait_for_capture


def wait_for_changes(using="default", timeout="30 seconds"):
    """Waits until every change committed before the call is in bemi.changes (bemi.sync())."""
    wait_for_capture(using, timeout)


class BemiTestMixin:
    """For TransactionTestCase: self.wait_for_changes() and the trail's rows since setUp."""

    def setUp(self):
        super().setUp()
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT coalesce(max(id), 0) FROM bemi.changes")
            self._bemi_first_id = cursor.fetchone()[0] + 1

    def wait_for_changes(self, using="default"):
        wait_for_changes(using)

    def changes_since_setup(self):
        from .models import Change
        wait_for_changes()
        return Change.objects.filter(id__gte=self._bemi_first_id).without_bemi()
