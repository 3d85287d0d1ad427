"""Incident.drill: which policy drill an incident rehearsed, so each drill's next run is known.

Drills started before this field existed are recognised by the title ``drill_start`` gave
them ("[DRILL] <name>: <scenario>").
"""

from django.conf import settings
from django.db import migrations, models

PREFIX = "[DRILL] "


def name_past_drills(apps, schema_editor):  # type: ignore[no-untyped-def]
    Incident = apps.get_model("incidents", "Incident")
    drills = Incident.objects.filter(is_drill=True, title__startswith=PREFIX)
    for incident in drills.only("id", "title"):
        name, sep, _scenario = incident.title[len(PREFIX) :].partition(": ")
        if sep and name:
            Incident.objects.filter(id=incident.id).update(drill=name[:200])


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0004_alert_ordered_public_id"),
        ("incidents", "0002_checklistitem_incidentrole_statusupdate_and_more"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="incident",
            name="drill",
            field=models.CharField(blank=True, default="", max_length=200),
        ),
        migrations.AddIndex(
            model_name="incident",
            index=models.Index(fields=["drill", "triggered_at"], name="incident_drill_runs"),
        ),
        migrations.RunPython(name_past_drills, migrations.RunPython.noop),
    ]
