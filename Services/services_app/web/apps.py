from django.apps import AppConfig


class WebConfig(AppConfig):
    """The server-rendered web app at `/` (its templates and static files live here)."""

    name = "services_app.web"
    label = "web"
    verbose_name = "Services web app"
