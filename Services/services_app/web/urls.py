"""The web app's URLs, mounted at `/` (namespace ``web``)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

app_name = "web"

urlpatterns = [
    path("", views.job_list, name="jobs"),
    path("login/", auth_views.LoginView.as_view(template_name="web/login.html"), name="login"),
    path("login/<str:uidb64>/<str:token>/", views.login_link, name="login_link"),
    path("logout/", auth_views.LogoutView.as_view(next_page="web:login"), name="logout"),
    path("account/password/", views.password, name="password"),
    path("jobs/<uuid:job_id>/", views.job_detail, name="job"),
    path("jobs/<uuid:job_id>/row/", views.job_row, name="job_row"),
    path("jobs/<uuid:job_id>/panel/", views.job_panel, name="job_panel"),
    path("jobs/<uuid:job_id>/cancel/", views.job_cancel_view, name="job_cancel"),
    path("jobs/<uuid:job_id>/rerun/", views.job_rerun_view, name="job_rerun"),
    path("checks/run/", views.check_run, name="check_run"),
    path("checks/history/", views.check_history, name="check_history"),
    path("checks/<uuid:job_id>/", views.check_report, name="check_report"),
    path("checks/<uuid:job_id>/report.html", views.check_report_html, name="check_report_html"),
    path("data/", views.data_browse, name="data"),
    path("data/parquet/", views.dataset, name="dataset"),
    path("data/download/", views.download, name="download"),
    path("upload/", views.upload, name="upload"),
    path("upload/file/", views.upload_file, name="upload_file"),
    path("upload/<uuid:job_id>/", views.upload_row, name="upload_row"),
    path("knowledge-bases/", views.knowledge_bases, name="knowledge_bases"),
    path("knowledge-bases/<str:name>/", views.knowledge_base, name="knowledge_base"),
    path("pipelines/", views.pipelines, name="pipelines"),
    path("pipelines/<str:name>/run/", views.pipeline_run, name="pipeline_run"),
    path("models/", views.models, name="models"),
    path("keys/", views.api_keys, name="api_keys"),
    path("keys/<int:key_id>/revoke/", views.api_key_revoke, name="api_key_revoke"),
]
