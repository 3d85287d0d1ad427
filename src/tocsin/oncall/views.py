"""Calendar subscription URLs: the secret token in the URL is the credential."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse

from tocsin.accounts.models import User
from tocsin.oncall.ical import person_feed, schedule_feed
from tocsin.oncall.models import Schedule


def person_feed_token(user: User) -> str:
    """A per-person feed token derived from the secret key (rotates if the key does)."""
    return hmac.new(
        settings.SECRET_KEY.encode(), f"ical:{user.public_id}".encode(), "sha256"
    ).hexdigest()[:32]


def _ics(body: bytes, name: str) -> HttpResponse:
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="{name}.ics"'
    response["Cache-Control"] = "private, max-age=300"
    return response


def schedule_ics(request: HttpRequest, token: str) -> HttpResponse:
    """The schedule's shifts as an iCalendar feed."""
    schedule = Schedule.objects.filter(feed_token=token).first()
    if schedule is None:
        raise Http404("unknown calendar")
    return _ics(schedule_feed(schedule=schedule), "oncall-" + schedule.public_id)


def person_ics(request: HttpRequest, public_id: str, token: str) -> HttpResponse:
    """One person's shifts across every schedule."""
    user = User.objects.filter(public_id=public_id, is_active=True).first()
    # Bytes: compare_digest refuses str with non-ASCII characters (a 500 that told a real id
    # from an unknown one). Every wrong token is the same 404.
    if user is None or not hmac.compare_digest(token.encode(), person_feed_token(user).encode()):
        raise Http404("unknown calendar")
    return _ics(person_feed(user=user), "oncall-" + user.public_id)
