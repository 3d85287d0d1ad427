"""The HTML pages. Incidents, services and schedules appear in URLs by public id, never by key."""

from __future__ import annotations

from django.urls import path

from tocsin.web import paging_views, process_views, views

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
    path("incidents/<slug:public_id>/escalate/", views.incident_escalate, name="incident-escalate"),
    path("incidents/<slug:public_id>/phase/", process_views.incident_phase, name="incident-phase"),
    path("incidents/<slug:public_id>/close/", process_views.incident_close, name="incident-close"),
    path(
        "incidents/<slug:public_id>/reopen/", process_views.incident_reopen, name="incident-reopen"
    ),
    path(
        "incidents/<slug:public_id>/severity/",
        process_views.incident_severity,
        name="incident-severity",
    ),
    path(
        "incidents/<slug:public_id>/details/",
        process_views.incident_details,
        name="incident-details",
    ),
    path("incidents/<slug:public_id>/roles/", process_views.incident_role, name="incident-role"),
    path(
        "incidents/<slug:public_id>/checklist/<str:checklist>/<int:position>/",
        process_views.checklist_check,
        name="checklist-check",
    ),
    path(
        "incidents/<slug:public_id>/checklist/<str:checklist>/<int:position>/waive/",
        process_views.checklist_waive,
        name="checklist-waive",
    ),
    path(
        "incidents/<slug:public_id>/update/", process_views.incident_update, name="incident-update"
    ),
    path("services/", views.service_list, name="service-list"),
    path("drills/", views.drill_list, name="drill-list"),
    path("drills/start/", views.drill_run, name="drill-start"),
    path(
        "services/<slug:public_id>/simulate/",
        process_views.service_simulate,
        name="service-simulate",
    ),
    path("schedules/", paging_views.schedule_list, name="schedule-list"),
    path("schedules/<slug:public_id>/", paging_views.schedule_detail, name="schedule-detail"),
    path(
        "schedules/<slug:public_id>/overrides/",
        paging_views.override_create,
        name="override-create",
    ),
    path(
        "schedules/<slug:public_id>/overrides/delete/",
        paging_views.override_delete,
        name="override-delete",
    ),
    path("me/", paging_views.me, name="me"),
    path(
        "me/contact-methods/<int:method_id>/test/",
        paging_views.contact_method_test_view,
        name="contact-method-test",
    ),
    path("readiness/", views.readiness_panel, name="readiness"),
]
