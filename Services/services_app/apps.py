from django.apps import AppConfig


class ServicesAppConfig(AppConfig):
    name = "services_app"
    verbose_name = "Services"
    default_auto_field = "django.db.models.BigAutoField"
