from django.apps import AppConfig


class ServicesAppConfig(AppConfig):
    name = "services_app"
    verbose_name = "Services"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # the project's Celery app, before any task is queued (services_project/__init__.py no longer imports it)
        import services_project.celery  # noqa: F401
