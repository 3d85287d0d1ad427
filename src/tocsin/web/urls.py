"""The HTML pages. Incidents and services appear in URLs by public id, never by primary key."""

from __future__ import annotations

from django.urls import path

from tocsin.web import views

app_name = "web"
urlpatterns = [
    path("login/", views.login, name="login"),
    path("logout/", views.logout, name="logout"),
    path("", views.incident_list, name="incident-list"),
    path("incidents/", views.incident_list),
    path("incidents/declare/", views.incident_declare, name="incident-declare"),
    path("incidents/<slug:public_id>/", views.incident_detail, name="incident-detail"),
    path("incidents/<slug:public_id>/acknowledge/", views.incident_ack, name="incident-ack"),
    path("incidents/<slug:public_id>/resolve/", views.incident_resolve, name="incident-resolve"),
    path("incidents/<slug:public_id>/notes/", views.incident_note, name="incident-note"),
    path("services/", views.service_list, name="service-list"),
]
