"""BemiMiddleware: binds the request's context (BEMI_CONTEXT_FUNCTION's dict plus a generated
request_id) for everything the request runs below it.

The context function runs where the middleware stands in MIDDLEWARE (after
AuthenticationMiddleware, so request.user is there). It can never break the request: an
exception, a value that is not a JSON object, or (with BEMI_CONTEXT_TIMEOUT) a call that takes
too long is logged and the request goes on with only its request_id as context.
"""
import asyncio
import json
import logging
import threading
import uuid

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.module_loading import import_string

from . import binding

try:  # asgiref >= 3.6 (Django 4.2+); older Django reads asyncio's marker
    from asgiref.sync import iscoroutinefunction, markcoroutinefunction
except ImportError:  # pragma: no cover
    iscoroutinefunction = asyncio.iscoroutinefunction

    def markcoroutinefunction(obj):
        obj._is_coroutine = asyncio.coroutines._is_coroutine
        return obj

logger = logging.getLogger("bemi")


class ContextTimeout(Exception):
    pass


def _context_function():
    path = getattr(settings, "BEMI_CONTEXT_FUNCTION", None)
    if not path:
        return None
    return path if callable(path) else import_string(path)


def _timeout():
    value = getattr(settings, "BEMI_CONTEXT_TIMEOUT", None)
    return float(value) if value else None


def _checked(values):
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise TypeError("BEMI_CONTEXT_FUNCTION returned %s, not a dict" % type(values).__name__)
    json.dumps(values, cls=DjangoJSONEncoder)  # fails here, not in the middle of a statement
    return values


def _call_with_timeout(function, request, timeout):
    # A call cannot be interrupted: it runs in a thread of its own that we stop waiting for.
    # That thread's database connections (request.user may query) are closed when it ends.
    outcome = {}

    def run():
        from django.db import connections
        try:
            outcome["value"] = function(request)
        except BaseException as exc:  # handed to the request's thread
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, name="bemi-context-function", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise ContextTimeout("BEMI_CONTEXT_FUNCTION took longer than BEMI_CONTEXT_TIMEOUT = %ss" % timeout)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _with_request_id(values, request):
    values = dict(values)
    # A request id the function passes on (say, from an upstream X-Request-ID) is kept.
    values.setdefault("request_id", str(uuid.uuid4()))
    request.bemi_request_id = values["request_id"]
    return values


def _failed(request, exc):
    logger.error("bemi: BEMI_CONTEXT_FUNCTION failed for %s %s; the request's changes carry only its "
                 "request_id: %s", request.method, request.path, exc, exc_info=not isinstance(exc, ContextTimeout))
    return {}


def request_context(request):
    function = _context_function()
    values = {}
    if function is not None:
        try:
            timeout = _timeout()
            values = _checked(_call_with_timeout(function, request, timeout) if timeout
                              else function(request))
        except Exception as exc:
            values = _failed(request, exc)
    return _with_request_id(values, request)


async def arequest_context(request):
    function = _context_function()
    if function is None or not iscoroutinefunction(function):
        return await sync_to_async(request_context)(request)
    try:
        values = _checked(await asyncio.wait_for(function(request), _timeout()))
    except Exception as exc:
        values = _failed(request, exc)
    return _with_request_id(values, request)


class BemiMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        token = binding.bind(request_context(request))
        try:
            return self.get_response(request)
        finally:
            binding.reset(token)

    async def __acall__(self, request):
        token = binding.bind(await arequest_context(request))
        try:
            return await self.get_response(request)
        finally:
            binding.reset(token)
