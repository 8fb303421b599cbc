from django.urls import Resolver404, resolve


def get_bemi_context(request):
    try:
        endpoint = "/" + resolve(request.path_info).route
    except Resolver404:
        endpoint = None
    return {
        "user_id": request.user.id,
        "method": request.method,
        "path": request.path,
        "endpoint": endpoint,
    }
