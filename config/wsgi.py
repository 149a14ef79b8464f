"""WSGI entry point (`gunicorn config.wsgi`)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()

# gunicorn runs no system checks: refuse to serve with S3_OBJECT_LOCK on and a bucket that cannot
# carry legal holds (a no-op, without S3 calls, otherwise).
from artifacts.checks import check_at_startup  # noqa: E402  (needs the apps loaded above)

check_at_startup()
