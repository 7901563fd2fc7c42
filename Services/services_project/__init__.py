"""The Django project. Its Celery app (``services_project.celery``) is loaded when Django loads its apps
(`services_app.apps.ServicesAppConfig.ready`), so that every ``shared_task`` binds to it, and by the worker
(``celery -A services_project``); not by importing the settings alone, which ``manage.py
convert_to_parquet`` does without loading the apps (Celery and its broker client cost about 0.15 s of CPU
on every run of a command that queues nothing)."""


def __getattr__(name: str):
    if name == "celery_app":
        from .celery import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ("celery_app",)
