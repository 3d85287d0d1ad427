"""Layer values are validated where they are written (admin forms run full_clean)."""

from __future__ import annotations

import importlib
from datetime import date

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError

from tests.factories import person, weekly_schedule
from tocsin.oncall.models import Layer

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("field", "value"),
    [("handoff_day", "Mon"), ("handoff_day", "someday"), ("every_seconds", 0)],
)
def test_a_layer_value_no_rotation_can_use_is_refused(field: str, value: object) -> None:
    layer = weekly_schedule("Primary", [person("ben@example.com")]).layers.get()
    layer.rotation = "every"
    setattr(layer, field, value)

    with pytest.raises(ValidationError) as refused:
        layer.full_clean()

    assert list(refused.value.message_dict) == [field]


def test_the_migration_spells_out_handoff_days_written_another_way() -> None:
    migration = importlib.import_module("tocsin.oncall.migrations.0002_layer_values_validated")
    schedule = weekly_schedule("Primary", [person("ben@example.com")], start=date(2026, 11, 2))
    days = ["Mon", "TUESDAY", "th", "s", "friday"]
    rows = [schedule.layers.get()]
    rows += [
        Layer.objects.create(schedule=schedule, position=i, start=date(2026, 11, 2))
        for i in range(1, len(days))
    ]
    for row, day in zip(rows, days, strict=True):
        Layer.objects.filter(pk=row.pk).update(handoff_day=day)

    migration.spell_out_handoff_days(apps, None)

    assert list(Layer.objects.order_by("position").values_list("handoff_day", flat=True)) == [
        "monday",
        "tuesday",
        "thursday",
        "s",  # ambiguous: left for the on-call reads to ignore
        "friday",
    ]
