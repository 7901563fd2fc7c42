from django.contrib import admin
from django.urls import include, path

from services_app.api.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("", include("services_app.web.urls")),
]
