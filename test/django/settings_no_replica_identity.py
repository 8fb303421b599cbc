"""The example project with BEMI_REPLICA_IDENTITY_FULL = False (django_migrate.sh)."""
from todo_project.settings import *  # noqa: F401,F403

BEMI_REPLICA_IDENTITY_FULL = False
