"""Forms: they parse and validate input; the views hand the result to one service."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from tocsin.alerts.models import Service
from tocsin.web.selectors import service_list, severity_choices

STATUS_CHOICES = [
    ("", "All"),
    ("open", "Open"),
    ("triggered", "Triggered"),
    ("acknowledged", "Acknowledged"),
    ("resolved", "Resolved"),
]


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
