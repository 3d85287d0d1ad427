"""Forms: they parse and validate input; the views hand the result to one service."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from tocsin.accounts.models import User
from tocsin.alerts.models import Service
from tocsin.oncall.models import Override, Schedule
from tocsin.web.paging import escalation_choices
from tocsin.web.selectors import service_list, severity_choices

STATUS_CHOICES = [
    ("", "All"),
    ("open", "Open"),
    ("triggered", "Triggered"),
    ("acknowledged", "Acknowledged"),
    ("resolved", "Resolved"),
]

LOCAL_DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class LoginForm(AuthenticationForm):
    """Sign in with e-mail address and password."""

    username = forms.EmailField(
        label="Email",
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "username"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def clean_username(self) -> str:
        """Addresses are stored lower-case; accept them typed in any case."""
        return str(self.cleaned_data["username"]).lower()


class IncidentFilterForm(forms.Form):
    """The list filters, read from the query string; an invalid value is ignored."""

    status = forms.ChoiceField(choices=STATUS_CHOICES, required=False)
    severity = forms.ChoiceField(required=False)
    service = forms.ChoiceField(required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        severity = self.fields["severity"]
        service = self.fields["service"]
        assert isinstance(severity, forms.ChoiceField)
        assert isinstance(service, forms.ChoiceField)
        severity.choices = [("", "All"), *((s, s) for s in severity_choices())]
        service.choices = [("", "All"), *((s.name, s.name) for s in service_list())]

    def filters(self) -> dict[str, str | None]:
        """The valid filters as keyword arguments for the incident list."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {name: data.get(name) or None for name in ("status", "severity", "service")}


class DrillStartForm(forms.Form):
    """Start one of the policy's drills."""

    name = forms.ChoiceField()
    service = forms.ModelChoiceField(
        queryset=Service.objects.none(),
        to_field_name="public_id",
        required=False,
        empty_label="No service: nobody is paged",
    )

    def __init__(self, *args: Any, names: list[str], **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        name = self.fields["name"]
        service = self.fields["service"]
        assert isinstance(name, forms.ChoiceField)
        assert isinstance(service, forms.ModelChoiceField)
        name.choices = [(n, n) for n in names]
        service.queryset = service_list()


class IncidentDeclareForm(forms.Form):
    """Declare an incident by hand."""

    title = forms.CharField(max_length=1024)
    severity = forms.ChoiceField(required=False)
    service = forms.ModelChoiceField(
        queryset=Service.objects.none(),
        to_field_name="public_id",  # public ids, never primary keys, in pages
        required=False,
        empty_label="No service",
    )
    summary = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        severity = self.fields["severity"]
        service = self.fields["service"]
        assert isinstance(severity, forms.ChoiceField)
        assert isinstance(service, forms.ModelChoiceField)
        names = severity_choices()
        severity.choices = [("", "Choose…"), *((s, s) for s in names)]
        severity.required = bool(names)
        service.queryset = service_list()


class NoteForm(forms.Form):
    """A note for the incident's timeline."""

    text = forms.CharField(
        label="Add a note",
        max_length=10_000,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "What happened, what you tried"}),
        error_messages={"required": "Write the note first."},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class WallTimeField(forms.DateTimeField):
    """A date and time without offset, read as wall time in the current zone (an offset, if
    given, is kept). In the hour repeated when the clocks go back it means the first
    occurrence; a time in the hour skipped when they go forward does not exist and is refused.
    """

    def to_python(self, value: Any) -> datetime | None:
        with timezone.override(UTC):  # parse only: a wall time is placed in the zone below
            parsed: datetime | None = super().to_python(value)
        if parsed is None or _has_offset(value):
            return parsed
        wall = parsed.replace(tzinfo=None)
        zone = timezone.get_current_timezone()
        first = wall.replace(tzinfo=zone)  # fold=0: the first of two occurrences
        if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall:
            raise ValidationError(
                "%(wall)s couldn't be interpreted in time zone %(zone)s: the clocks skip it "
                "there when they go forward.",
                code="nonexistent_time",
                params={"wall": f"{wall:%Y-%m-%d %H:%M}", "zone": zone},
            )
        return first


def _has_offset(value: Any) -> bool:
    if isinstance(value, datetime):
        return value.tzinfo is not None
    if isinstance(value, str):
        parsed = parse_datetime(value.strip())
        return parsed is not None and parsed.tzinfo is not None
    return False


class OverrideForm(forms.Form):
    """Put someone on call for a while; the times are wall times in the schedule's zone."""

    user = forms.ModelChoiceField(
        label="Person",
        queryset=User.objects.none(),
        to_field_name="public_id",
        empty_label="Choose…",
    )
    start = WallTimeField(label="From", widget=LOCAL_DATETIME)
    end = WallTimeField(label="To", widget=LOCAL_DATETIME)
    note = forms.CharField(max_length=500, required=False, strip=True)

    def __init__(self, *args: Any, zone: ZoneInfo, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.zone = zone
        user = self.fields["user"]
        assert isinstance(user, forms.ModelChoiceField)
        user.queryset = User.objects.filter(is_active=True).order_by("name", "email")
        help_text = f"{zone.key} time; in the hour repeated when the clocks go back, the first one"
        for name in ("start", "end"):
            self.fields[name].help_text = help_text

    def full_clean(self) -> None:
        # WallTimeField reads a time without offset in the current zone: make that the schedule's,
        # so "09:00" means 09:00 where the rotation hands off (a time that does not exist there,
        # inside a DST jump, is refused; one that occurs twice is the first occurrence).
        with timezone.override(self.zone):
            super().full_clean()


class OverrideDeleteForm(forms.Form):
    """Which of the schedule's overrides to remove."""

    override = forms.ModelChoiceField(queryset=Override.objects.none())

    def __init__(self, *args: Any, schedule: Schedule, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        override = self.fields["override"]
        assert isinstance(override, forms.ModelChoiceField)
        override.queryset = Override.objects.filter(schedule=schedule)


NEXT_LEVEL = "next"


def _person_label(user: User) -> str:
    return f"{user.name} ({user.email})" if user.name else user.email


class EscalateForm(forms.Form):
    """Escalate now: to the policy's next level, or page a chosen person or role."""

    to = forms.ChoiceField(label="Page")
    message = forms.CharField(
        label="Note",
        max_length=2000,
        required=False,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Why, and what you need"}),
    )

    def __init__(self, *args: Any, policy: str = "", **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        people, roles = escalation_choices()
        to = self.fields["to"]
        assert isinstance(to, forms.ChoiceField)
        # Without an escalation run there is no next level: only people and roles.
        levels = [(NEXT_LEVEL, f"The next level of {policy}")] if policy else []
        to.choices = [
            *levels,
            ("People", [(f"user:{p.public_id}", _person_label(p)) for p in people]),
            ("Roles", [(f"role:{r.name}", r.name) for r in roles]),
        ]

    def clean_to(self) -> str:
        value = str(self.cleaned_data["to"])
        if value.startswith("role:") and not self._people_in(value):
            raise forms.ValidationError(f"Nobody has the role {value[5:]}.")
        return value

    def _people_in(self, value: str) -> list[User]:
        kind, _, ref = value.partition(":")
        active = User.objects.filter(is_active=True)
        if kind == "user":
            return list(active.filter(public_id=ref))
        return list(active.filter(org_roles__name=ref).order_by("email"))

    def people(self) -> list[User] | None:
        """Who to page directly, or None for "the next level"."""
        value = self.cleaned_data["to"]
        return None if value == NEXT_LEVEL else self._people_in(value)
