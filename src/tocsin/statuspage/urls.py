from __future__ import annotations

from django.urls import URLPattern, path, re_path

from tocsin.statuspage import views

app_name = "statuspage"
urlpatterns: list[URLPattern] = [
    path("subscribe/", views.subscribe, name="subscribe"),
    path("subscribe/confirm/<str:token>/", views.confirm, name="confirm"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("", views.site_file, name="index"),
    re_path(r"^(?P<path>history/)$", views.site_file, name="history"),
    re_path(r"^(?P<path>incidents/[0-9a-z]+/)$", views.site_file, name="incident"),
    re_path(r"^(?P<path>[A-Za-z0-9._/-]+)$", views.site_file, name="file"),
]
