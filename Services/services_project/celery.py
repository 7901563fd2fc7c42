"""The Celery app. Reads Django settings under the CELERY_ namespace.

Two queues: "default" for CPU work and "gpu" for embeddings and training.
"""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "services_project.settings")

app = Celery("services")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("default"), Queue("gpu"))
app.autodiscover_tasks()
