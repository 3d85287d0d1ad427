from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

from tocsin.api.urls import api
from tocsin.notifications.views import act
from tocsin.oncall.views import person_ics, schedule_ics
from tocsin.web.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    # Signed one-click links in messages; they need no login (and no CSRF token: the signed
    # token in the URL is the credential, and it only ever names one incident and one action).
    path("act/<str:token>/", csrf_exempt(act), name="act"),
    path("ical/schedule/<str:token>.ics", schedule_ics, name="ical-schedule"),
    path("ical/person/<str:public_id>/<str:token>.ics", person_ics, name="ical-person"),
    path("", include("tocsin.alerts.urls")),
    path("api/v1/", api.urls),
    path("status/", include("tocsin.statuspage.urls")),
    path("admin/", admin.site.urls),
    path("", include("tocsin.web.urls")),
]
