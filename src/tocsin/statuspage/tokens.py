"""Signed links for subscribers: confirm (expires) and unsubscribe (until used)."""

from __future__ import annotations

from django.core import signing

from tocsin.statuspage.models import Subscriber

CONFIRM_SALT = "tocsin.statuspage.confirm"
UNSUBSCRIBE_SALT = "tocsin.statuspage.unsubscribe"
CONFIRM_MAX_AGE = 7 * 86_400


def confirm_token(subscriber: Subscriber) -> str:
    """A link token that confirms this subscription for a week."""
    return signing.TimestampSigner(salt=CONFIRM_SALT).sign(
        f"{subscriber.public_id}.{subscriber.token}"
    )


def unsubscribe_token(subscriber: Subscriber) -> str:
    """A link token that ends this subscription (the token rotates when it is used)."""
    return signing.Signer(salt=UNSUBSCRIBE_SALT).sign(f"{subscriber.public_id}.{subscriber.token}")


def subscriber_by_token(value: str) -> Subscriber | None:
    """The subscriber a verified ``public_id.token`` value names, if still current."""
    public_id, _, token = value.partition(".")
    return Subscriber.objects.filter(public_id=public_id, token=token).first()
