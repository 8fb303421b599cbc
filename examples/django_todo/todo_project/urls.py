from django.urls import path

from todo import views

urlpatterns = [
    path("login", views.login_view),
    path("todo", views.todos),
    path("todo/batch", views.batch),
    path("todo/async", views.async_create),
    path("todo/<int:pk>", views.delete_todo),
    path("todo/<int:pk>/complete", views.complete),
]
