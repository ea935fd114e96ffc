"""Partner credentials encrypted at rest with Fernet.

Keys come from ``CONNECTOR_ENCRYPTION_KEYS`` (comma-separated Fernet keys, newest first, so a
key can be rotated: new writes use the first, reads try each). Without it, a key is derived
from SECRET_KEY, which is good enough for the demo and tests and nothing else.
"""

import base64
import hashlib
import json
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@cache
def _fernet() -> MultiFernet:
    keys = list(settings.CONNECTOR_ENCRYPTION_KEYS)
    if not keys:
        derived = hashlib.sha256(f"stockpool-connector-credentials:{settings.SECRET_KEY}".encode()).digest()
        keys = [base64.urlsafe_b64encode(derived).decode()]
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as error:
        raise ImproperlyConfigured(f"CONNECTOR_ENCRYPTION_KEYS holds an invalid Fernet key: {error}") from error


def encrypt_text(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt_text(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as error:
        raise ImproperlyConfigured(
            "Stored partner credentials cannot be decrypted with CONNECTOR_ENCRYPTION_KEYS; was a key removed?"
        ) from error


def encrypt_json(value: dict) -> str:
    return encrypt_text(json.dumps(value, sort_keys=True))


def decrypt_json(token: str) -> dict:
    return json.loads(decrypt_text(token))


def encrypted_text(field_name: str) -> property:
    """A model property keeping its text encrypted in ``field_name``; "" when nothing is stored.

    A ``property`` (not another descriptor) so that the model's constructor accepts it as a keyword.
    """

    def read(instance) -> str:
        token = getattr(instance, field_name)
        return decrypt_text(token) if token else ""

    def write(instance, value: str) -> None:
        setattr(instance, field_name, encrypt_text(value) if value else "")

    return property(read, write)


def mask(value: str) -> str:
    """What the admin may show of a secret: its length class and last characters, never the rest."""
    if not value:
        return ""
    return "•" * 8 + value[-4:] if len(value) > 8 else "•" * 8
