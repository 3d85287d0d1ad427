from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from tocsin.api.urls import api
from tocsin.web.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("", include("tocsin.alerts.urls")),
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
    path("", include("tocsin.web.urls")),
]
