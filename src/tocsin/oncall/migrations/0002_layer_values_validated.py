"""Layer.handoff_day is one of the weekday names and Layer.every_seconds at least 60, so the
admin refuses a value that every on-call read would fail on ("Mon", 0).

A handoff day written another way before this ("Mon", "TUESDAY") becomes its full lower-case name,
as the configuration file's days do; one that names no weekday is left for the on-call reads to
ignore (its layer puts nobody on call, which readiness reports as a gap).
"""

import django.core.validators
from django.db import migrations, models

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def spell_out_handoff_days(apps, schema_editor):  # type: ignore[no-untyped-def]
    Layer = apps.get_model("oncall", "Layer")
    for layer in Layer.objects.exclude(handoff_day__in=WEEKDAYS).only("id", "handoff_day"):
        text = layer.handoff_day.strip().lower()
        day = next((d for d in WEEKDAYS if len(text) >= 2 and d.startswith(text)), None)
        if day is not None:
            Layer.objects.filter(id=layer.id).update(handoff_day=day)


class Migration(migrations.Migration):

    dependencies = [
        ('oncall', '0001_initial'),
    ]

    operations = [
        migrations.AlterField(
            model_name='layer',
            name='every_seconds',
            field=models.PositiveIntegerField(default=604800, help_text="For an 'every' rotation: seconds between handoffs (at least 60).", validators=[django.core.validators.MinValueValidator(60)]),
        ),
        migrations.AlterField(
            model_name='layer',
            name='handoff_day',
            field=models.CharField(choices=[('monday', 'Monday'), ('tuesday', 'Tuesday'), ('wednesday', 'Wednesday'), ('thursday', 'Thursday'), ('friday', 'Friday'), ('saturday', 'Saturday'), ('sunday', 'Sunday')], default='monday', help_text='For a weekly rotation.', max_length=10),
        ),
        migrations.RunPython(spell_out_handoff_days, migrations.RunPython.noop),
    ]
