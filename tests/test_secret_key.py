"""The development SECRET_KEY never runs in production: without ``DEBUG`` and without a key the app
refuses to start, and ``manage.py check --deploy`` refuses the development key and weak keys."""

import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.core.checks import Error

from accounts.checks import check_secret_key
from tests.test_config import PRODUCTION_ENV, ROOT

LOAD_SETTINGS = "import django; from django.conf import settings; django.setup(); print(settings.SECRET_KEY)"


def run(args, env, tmp_path):
    """Run ``python args...`` in the project with exactly ``env`` (plus PATH and a scratch DATA_DIR)."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": os.environ["PATH"], "DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings", **env},
    )


@pytest.mark.parametrize("secret_key", [None, ""])
def test_without_debug_and_without_a_key_the_app_refuses_to_start(tmp_path, secret_key):
    env = {"DEBUG": "false"} if secret_key is None else {"DEBUG": "false", "SECRET_KEY": secret_key}
    for args in (["manage.py", "check"], ["-c", "import config.wsgi"]):
        result = run(args, env, tmp_path)
        assert result.returncode != 0, result.stdout
        assert "ImproperlyConfigured" in result.stderr
        assert "SECRET_KEY is not set" in result.stderr
        assert "secrets.token_urlsafe(50)" in result.stderr, "the message says how to make a key"


def test_development_runs_on_the_development_key_without_one(tmp_path):
    """``bin/serve`` runs with DEBUG=true and needs no key."""
    result = run(["-c", LOAD_SETTINGS], {"DEBUG": "true"}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == django_settings.DEVELOPMENT_SECRET_KEY


def test_check_deploy_refuses_the_development_key(tmp_path):
    env = {**PRODUCTION_ENV, "SECRET_KEY": django_settings.DEVELOPMENT_SECRET_KEY}
    result = run(["manage.py", "check", "--deploy"], env, tmp_path)
    assert result.returncode != 0
    assert "holdfast.E001" in result.stderr and "public development key" in result.stderr


@pytest.mark.parametrize(
    "key, problem",
    [
        ("short-key", "shorter than 50"),
        ("x" * 49, "shorter than 50"),
        ("ab" * 40, "fewer than 5 different characters"),
        ("django-insecure-" + "q8#Lm2$Vx9!Rt4&Kp7*Zn3^Hw6(Jd1)Gb5_Yc0+Fs", "public development key"),
        ("dev-insecure-" + "q8#Lm2$Vx9!Rt4&Kp7*Zn3^Hw6(Jd1)Gb5_Yc0+Fs-more", "public development key"),
    ],
)
def test_check_deploy_refuses_weak_keys(settings, key, problem):
    settings.SECRET_KEY = key
    errors = check_secret_key(None)
    assert [error.id for error in errors] == ["holdfast.E001"]
    assert isinstance(errors[0], Error) and problem in errors[0].msg
    assert "SECRET_KEY" in errors[0].hint


def test_check_deploy_accepts_a_random_key(settings):
    settings.SECRET_KEY = PRODUCTION_ENV["SECRET_KEY"]
    assert check_secret_key(None) == []


def test_the_test_suite_runs_with_a_key_of_its_own():
    assert django_settings.SECRET_KEY != django_settings.DEVELOPMENT_SECRET_KEY
    assert check_secret_key(None) == []
