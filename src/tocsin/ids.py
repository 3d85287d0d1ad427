"""Public identifiers: short random codes that are safe in URLs and never reveal row counts."""

from __future__ import annotations

import secrets

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case, no i/l/o/u


def new_public_id(length: int = 12) -> str:
    """Return a random code of ``length`` characters (60 bits at the default length).

    One read of the OS random source for the whole code (alert ingestion makes thousands a
    second): the alphabet has 32 letters, so taking 5 bits per letter keeps them equally likely.
    """
    bits = int.from_bytes(secrets.token_bytes((5 * length + 7) // 8), "big")
    return "".join(_ALPHABET[(bits >> (5 * k)) & 31] for k in range(length))
