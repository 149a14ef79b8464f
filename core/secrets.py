"""Secrets at rest: integration credentials (Twilio connections) and customers' S3 bucket keys (export
pushes) are stored encrypted with ``HOLDFAST_SECRET_KEYS``.

cryptography's :class:`~cryptography.fernet.MultiFernet` over the configured keys: the first key
encrypts, every key decrypts, so keys rotate without downtime — put a new key first, run
``manage.py twilio_flex rotate-secrets`` (re-encrypts every stored secret with it, export buckets'
too), then drop the old key. Plain secrets never reach a log, an audit event or the admin.
"""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretsUnavailable(ImproperlyConfigured):
    """No key is configured, or the stored secret was encrypted with a key no longer configured."""


def _keys():
    keys = [key.strip() for key in settings.HOLDFAST_SECRET_KEYS if key.strip()]
    if not keys and settings.DEBUG:
        # Development only: a key derived from SECRET_KEY, so a fresh checkout works.
        keys = [base64.urlsafe_b64encode(hashlib.sha256(b"holdfast-secrets:" + settings.SECRET_KEY.encode()).digest())]
    if not keys:
        raise SecretsUnavailable(
            "HOLDFAST_SECRET_KEYS is not set: integration secrets cannot be stored or read. Set it to one or "
            "more Fernet keys (comma-separated, newest first), e.g. the output of python3 -c 'from "
            "cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'."
        )
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as exc:
        raise SecretsUnavailable(f"HOLDFAST_SECRET_KEYS holds a key that is not a Fernet key: {exc}") from None


def encrypt(plain):
    """The stored form of ``plain`` (text): a Fernet token, or "" for an empty secret."""
    if not plain:
        return ""
    return _keys().encrypt(plain.encode()).decode()


def decrypt(token):
    """The plain text of a stored secret ("" for none)."""
    if not token:
        return ""
    try:
        return _keys().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretsUnavailable(
            "A stored secret cannot be decrypted with HOLDFAST_SECRET_KEYS: the key that encrypted it was "
            "removed before `manage.py twilio_flex rotate-secrets` ran. Put that key back (after the new one)."
        ) from None


def rotate(token):
    """``token`` re-encrypted with the first key (unchanged when empty)."""
    if not token:
        return ""
    try:
        return _keys().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretsUnavailable("A stored secret cannot be decrypted with any key of HOLDFAST_SECRET_KEYS.") from None


#: Stored secrets of other apps that ``rotate-secrets`` re-encrypts too: ``{what: rotate_all(actor) -> count}``
#: (registered in each app's ``AppConfig.ready``, so this module imports no app).
_rotations = {}


def register_rotation(what, rotate_all):
    """Have ``rotate-secrets`` call ``rotate_all(actor)`` (returns how many rows it re-encrypted)."""
    _rotations[what] = rotate_all


def rotate_registered(actor):
    """Run every registered rotation; returns ``{what: count}``."""
    return {what: rotate_all(actor) for what, rotate_all in _rotations.items()}
