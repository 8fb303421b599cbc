"""The context bound to what runs now (a request, a task, a block), held in a ContextVar.

A ContextVar is per thread and per asyncio task, and asgiref copies it into the thread a
sync_to_async call runs in: so the value is right under WSGI threads, ASGI and async views,
and one request never sees another's.
"""
import contextvars
import functools
import inspect
import json
from urllib.parse import quote

from django.core.serializers.json import DjangoJSONEncoder


class Bound:
    """One bound context, encoded once: every statement while it is bound carries `comment`."""

    __slots__ = ("values", "comment", "comment_for_params", "outer")

    def __init__(self, values, outer=None):
        self.values = dict(values)
        self.outer = outer
        encoded = json.dumps(self.values, cls=DjangoJSONEncoder, separators=(",", ":"), sort_keys=True)
        # quote() with nothing safe leaves only [A-Za-z0-9_.~-] and %XX: nothing can end the
        # comment (*/), open a nested one (/*), or quote anything, and bemi decodes exactly
        # this form (docs/capture.md, "percent-encoded").
        body = quote(encoded, safe="")
        self.comment = "\n/*Bemi " + body + " Bemi*/"
        # With parameters the driver reads '%' as a placeholder; '%%' reaches the server as '%'.
        self.comment_for_params = self.comment.replace("%", "%%")


_current = contextvars.ContextVar("bemi_context", default=None)


def current():
    """The Bound in force, or None."""
    return _current.get()


def get_context():
    """A copy of the context in force ({} when none)."""
    bound = _current.get()
    return dict(bound.values) if bound is not None else {}


def bind(values):
    """Binds `values` (a dict) on top of the context in force; returns the token to reset()."""
    outer = _current.get()
    merged = dict(outer.values) if outer is not None else {}
    merged.update(values)
    return _current.set(Bound(merged, outer))


def reset(token):
    _current.reset(token)


class context:
    """``with bemi.context({"job": "nightly"}):`` or ``@bemi.context({"job": "nightly"})``.

    Nested blocks add their keys to the outer ones (inner wins). Each entry binds anew, so one
    decorated function may run in many threads or tasks at once.
    """

    def __init__(self, values=None, **more):
        self.values = dict(values or {}, **more)

    def __enter__(self):
        bind(self.values)
        return get_context()

    def __exit__(self, *exc):
        # With-blocks nest within one thread or task, so what is bound here is what this
        # block bound; going back to its outer needs no token, and one instance may be
        # entered in several threads at once.
        _current.set(_current.get().outer)
        return False

    def __call__(self, func):
        values = self.values
        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def async_wrapper(*args, **kwargs):
                with context(values):
                    return await func(*args, **kwargs)
            return async_wrapper

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with context(values):
                return func(*args, **kwargs)
        return wrapper
