from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate


class BemiConfig(AppConfig):
    name = "bemi"
    verbose_name = "bemi audit trail"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import database, statement

        # Every connection, in every thread and process, gets the hook when it connects:
        # Django's connections are per thread, so one installed at start-up would miss most.
        connection_created.connect(statement.install, dispatch_uid="bemi.statement.install")
        post_migrate.connect(database.after_migrate, sender=self, dispatch_uid="bemi.database.after_migrate")
