"""Forms of the incident process: phase, severity, details, roles, checklists, updates, and the
"what happens if this breaks?" simulation. They parse; the views call one service each."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.utils import timezone

from tocsin.accounts.models import User
from tocsin.comms.defaults import CHANNELS
from tocsin.comms.defaults import PHASES as COMMS_PHASES
from tocsin.comms.services import Draft, Outgoing
from tocsin.incidents.models import Incident
from tocsin.incidents.services import PHASES
from tocsin.policy.config.durations import parse_duration
from tocsin.web.forms import LOCAL_DATETIME
from tocsin.web.process import active_people, phase_name, role_label

COMMS_PHASE_NAMES = {
    "declared": "Declared",
    "update": "Update",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
    "postmortem_scheduled": "Post-mortem scheduled",
}
CHANNEL_NAMES = {
    "chat": "Chat",
    "email": "Email",
    "status_page": "Status page",
    "bridge": "Bridge",
}
WITH_SUBJECT = ("email", "status_page")


class _Form(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def _choices(self, name: str, choices: list[tuple[str, str]]) -> None:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices


class PhaseForm(_Form):
    """Move the incident to investigating, identified or monitoring."""

    status = forms.ChoiceField(choices=[(p, phase_name(p)) for p in PHASES])


class SeverityForm(_Form):
    """Change the severity to another level of the policy's scale."""

    severity = forms.ChoiceField()

    def __init__(self, *args: Any, names: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._choices("severity", [(n, n) for n in names])


def _components(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,\n]", text) if part.strip()]


class DetailsForm(_Form):
    """What the guides' templates and post-mortems use: impact, cause, fix, where to talk."""

    impact = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    users_affected = forms.CharField(
        max_length=200, required=False, help_text='e.g. "all", "~12%", "4,000"'
    )
    error_rate = forms.CharField(max_length=100, required=False)
    affected_components = forms.CharField(
        required=False, help_text="Comma-separated, e.g. Checkout, Payments API"
    )
    root_cause = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    resolution = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    bridge_url = forms.URLField(
        label="Bridge URL", max_length=500, required=False, assume_scheme="https"
    )
    chat_channel = forms.CharField(max_length=200, required=False)
    is_security = forms.BooleanField(
        label="Security incident (restricted: only its people and staff see it)", required=False
    )
    is_drill = forms.BooleanField(label="Drill (excluded from metrics)", required=False)

    @classmethod
    def for_incident(cls, incident: Incident) -> DetailsForm:
        initial = {name: getattr(incident, name) for name in cls.base_fields}
        initial["affected_components"] = ", ".join(incident.affected_components)
        return cls(initial=initial)

    def clean_affected_components(self) -> list[str]:
        return _components(str(self.cleaned_data["affected_components"]))


class RoleForm(_Form):
    """Give one of the incident's roles to a person, as primary or as backup."""

    role = forms.ChoiceField(widget=forms.HiddenInput)
    user = forms.ModelChoiceField(
        label="Person",
        queryset=User.objects.none(),
        to_field_name="public_id",
        empty_label="Choose…",
    )
    backup = forms.TypedChoiceField(
        label="As",
        choices=[("0", "primary"), ("1", "backup")],
        coerce=lambda v: v == "1",
        initial="0",
    )

    def __init__(self, *args: Any, roles: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._choices("role", [(r, role_label(r)) for r in roles])
        user = self.fields["user"]
        assert isinstance(user, forms.ModelChoiceField)
        user.queryset = active_people()


class CheckForm(_Form):
    """Check ("1") or uncheck ("0") a checklist item."""

    checked = forms.TypedChoiceField(choices=[("1", "check"), ("0", "uncheck")], coerce=int)


class WaiveForm(_Form):
    """Waive a checklist item: only with a reason."""

    reason = forms.CharField(
        max_length=2000,
        strip=True,
        error_messages={"required": "Say why this item is waived."},
    )


class ComposeForm(_Form):
    """The first step of an update: which phase it announces, and a short message."""

    phase = forms.ChoiceField(choices=[(p, COMMS_PHASE_NAMES[p]) for p in COMMS_PHASES])
    message = forms.CharField(
        label="Message (optional)",
        required=False,
        max_length=2000,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "What changed, what is next"}),
    )


class SendForm(_Form):
    """The drafts as edited, one subject/body pair per channel, and which channels to send."""

    phase = forms.ChoiceField(choices=[(p, p) for p in COMMS_PHASES], widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for channel in CHANNELS:
            name = CHANNEL_NAMES[channel]
            self.fields[f"{channel}_send"] = forms.BooleanField(
                label=f"Send to {name.lower()}", required=False
            )
            if channel in WITH_SUBJECT:
                self.fields[f"{channel}_subject"] = forms.CharField(
                    label="Subject", max_length=500, required=False
                )
            self.fields[f"{channel}_body"] = forms.CharField(
                label=f"{name} message",
                required=False,
                strip=True,
                widget=forms.Textarea(attrs={"rows": 8}),
            )

    @classmethod
    def from_drafts(cls, phase: str, drafts: list[Draft], ticked: set[str]) -> SendForm:
        initial: dict[str, Any] = {"phase": phase}
        for d in drafts:
            initial[f"{d.channel}_send"] = d.channel in ticked and bool(d.body)
            initial[f"{d.channel}_subject"] = d.subject
            initial[f"{d.channel}_body"] = d.body
        return cls(initial=initial)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        chosen = [c for c in CHANNELS if data.get(f"{c}_send")]
        if not chosen:
            raise forms.ValidationError("Tick at least one channel to send to.")
        for channel in chosen:
            if not data.get(f"{channel}_body"):
                self.add_error(
                    f"{channel}_body", f"Write the {CHANNEL_NAMES[channel].lower()} message."
                )
        return data

    def outgoing(self) -> list[Outgoing]:
        """The ticked channels' messages, for ``comms_send``."""
        data = self.cleaned_data
        return [
            Outgoing(c, data.get(f"{c}_subject") or "", data[f"{c}_body"])
            for c in CHANNELS
            if data.get(f"{c}_send")
        ]

    def channels(self) -> list[dict[str, Any]]:
        """Per channel, its bound fields, for the template."""
        return [
            {
                "channel": c,
                "name": CHANNEL_NAMES[c],
                "send": self[f"{c}_send"],
                "subject": self[f"{c}_subject"] if c in WITH_SUBJECT else None,
                "body": self[f"{c}_body"],
            }
            for c in CHANNELS
        ]


class DurationField(forms.CharField):
    """A written duration: 90s, 20m, 2h, 1h30m."""

    def to_python(self, value: Any) -> timedelta | None:  # type: ignore[override]
        text = str(super().to_python(value) or "").strip()
        if not text:
            return None
        try:
            return timedelta(seconds=parse_duration(text).seconds)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc


def coming_saturday(zone: ZoneInfo, now: datetime | None = None) -> datetime:
    """The next Saturday 03:00 in ``zone``: when the worst incidents happen."""
    local = timezone.localtime(now or timezone.now(), zone)
    days = (5 - local.weekday()) % 7
    at = (local + timedelta(days=days)).replace(hour=3, minute=0, second=0, microsecond=0)
    return at if at > local else at + timedelta(days=7)


class SimulateForm(_Form):
    """A scenario for the simulator; the time is wall time in the calendar's zone."""

    severity = forms.ChoiceField()
    at = forms.DateTimeField(label="When it breaks", widget=LOCAL_DATETIME)
    ack_after = DurationField(
        label="Acknowledged after",
        required=False,
        help_text="e.g. 20m; empty: never",
    )
    resolve_after = DurationField(
        label="Resolved after", required=False, help_text="e.g. 2h; empty: never"
    )

    def __init__(self, *args: Any, zone: ZoneInfo, severities: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.zone = zone
        self._choices("severity", [(s, s) for s in severities])
        self.fields["at"].help_text = f"{zone.key} time"

    def full_clean(self) -> None:
        # A time without offset is read in the calendar's zone (see OverrideForm).
        with timezone.override(self.zone):
            super().full_clean()
