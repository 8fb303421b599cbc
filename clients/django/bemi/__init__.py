"""bemi for Django: every statement a request runs carries its context to bemi's capture.

Importing this package does not touch Django's app registry: settings can name
``bemi.BemiMiddleware`` and models can use ``bemi.TimeTravelManager``.
"""
from .binding import context, get_context
from .middleware import BemiMiddleware
from .time_travel import TimeTravelManager, as_of, history, revert, revert_request, versions

__all__ = [
    "BemiMiddleware", "TimeTravelManager", "as_of", "context", "get_context", "history", "revert",
    "revert_request", "versions",
]


def __getattr__(name):
    # The model needs the app registry: imported only when asked for.
    if name == "Change":
        from .models import Change
        return Change
    raise AttributeError(name)
