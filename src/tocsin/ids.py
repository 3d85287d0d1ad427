"""Public identifiers: short random codes that are safe in URLs and never reveal row counts."""

from __future__ import annotations

import secrets

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case, no i/l/o/u


def new_public_id(length: int = 12) -> str:
    """Return a random code of ``length`` characters (60 bits at the default length)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))
