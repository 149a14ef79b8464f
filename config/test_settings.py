"""Settings of the test suite (``DJANGO_SETTINGS_MODULE`` in pyproject.toml): the application's
settings, plus

- this run's own RQ queue (``RQ_QUEUE``, unless set): two checkouts, or two runs, testing at once
  on one Redis never take each other's jobs; worker subprocesses inherit it from the environment;
- a fast password hasher: tests create users by the hundred, and the production hasher (PBKDF2)
  costs about a second each;
- a random ``SECRET_KEY`` of this run (unless set): the suite runs with ``DEBUG=false``, where the
  settings refuse to start without a key; subprocesses (workers, commands) inherit it;
- likewise an Ed25519 ``AUDIT_SIGNING_KEY`` of this run (unless set), which signs audit checkpoints.
"""

import os
import secrets
import uuid

os.environ.setdefault("RQ_QUEUE", f"holdfast-test-{os.getpid()}-{uuid.uuid4().hex[:6]}")
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
if not os.environ.get("AUDIT_SIGNING_KEY"):
    # An audit signing key of this run (a PEM in the environment, as production may set it).
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    os.environ["AUDIT_SIGNING_KEY"] = (
        Ed25519PrivateKey.generate()
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )

if not os.environ.get("HOLDFAST_SECRET_KEYS"):
    # A key of this run for the secrets integrations keep encrypted at rest.
    from cryptography.fernet import Fernet

    os.environ["HOLDFAST_SECRET_KEYS"] = Fernet.generate_key().decode()

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# The audit trail and the locks refuse TRUNCATE (artifacts migration 0006); the suite's own
# connections may, to reset the database between transactional tests.
if DATABASES["default"]["ENGINE"].endswith("postgresql"):  # noqa: F405
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c holdfast.allow_truncate=on"  # noqa: F405
