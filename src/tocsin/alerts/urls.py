"""Ingestion URLs. A trailing slash is accepted: senders are configured by hand."""

from __future__ import annotations

from django.urls import URLPattern, re_path

from tocsin.alerts import views

app_name = "alerts"
urlpatterns: list[URLPattern] = [
    re_path(
        r"^integrations/alertmanager/(?P<key>[^/]+)/?$",
        views.alertmanager_receive,
        name="alertmanager",
    ),
    re_path(r"^integrations/grafana/(?P<key>[^/]+)/?$", views.grafana_receive, name="grafana"),
    re_path(r"^integrations/webhook/(?P<key>[^/]+)/?$", views.webhook_receive, name="webhook"),
    re_path(r"^v2/enqueue/?$", views.pagerduty_enqueue, name="pagerduty-enqueue"),
    re_path(
        r"^v2/change/enqueue/?$", views.pagerduty_change_enqueue, name="pagerduty-change-enqueue"
    ),
]
