from django.db import models

import bemi


class Todo(models.Model):
    task = models.CharField(max_length=200)
    is_completed = models.BooleanField(default=False)

    objects = bemi.TimeTravelManager()

    class Meta:
        db_table = "todo"
