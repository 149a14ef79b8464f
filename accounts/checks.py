"""System checks of the deployment (``manage.py check --deploy``) beyond Django's own."""

from django.conf import settings
from django.core.checks import Error, Tags, register

#: Django's own thresholds for a secret key (``security.W009``), made an error here.
MIN_SECRET_KEY_LENGTH = 50
MIN_SECRET_KEY_CHARACTERS = 5
#: Prefixes of keys that are published: ours (settings.DEVELOPMENT_SECRET_KEY) and ``startproject``'s.
PUBLIC_KEY_PREFIXES = ("dev-insecure-", "django-insecure-")

SECRET_KEY_HINT = (
    "Set SECRET_KEY in the environment to 50 or more random characters, e.g. "
    "python3 -c 'import secrets; print(secrets.token_urlsafe(50))', the same on every web and worker process."
)


@register(Tags.security, deploy=True)
def check_secret_key(app_configs, **kwargs):
    """Error (not Django's warning) when SECRET_KEY is public or weak: whoever knows it can forge
    sessions, ``messages`` cookies and password-reset links."""
    key = str(getattr(settings, "SECRET_KEY", "") or "")
    if key == getattr(settings, "DEVELOPMENT_SECRET_KEY", None) or key.startswith(PUBLIC_KEY_PREFIXES):
        problem = "SECRET_KEY is the public development key (or another published one)."
    elif len(key) < MIN_SECRET_KEY_LENGTH:
        problem = f"SECRET_KEY is shorter than {MIN_SECRET_KEY_LENGTH} characters."
    elif len(set(key)) < MIN_SECRET_KEY_CHARACTERS:
        problem = f"SECRET_KEY has fewer than {MIN_SECRET_KEY_CHARACTERS} different characters."
    else:
        return []
    return [Error(problem, hint=SECRET_KEY_HINT, id="holdfast.E001")]
