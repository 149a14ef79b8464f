"""Settings come from the environment; /healthz reports what is usable."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PRINT_SETTINGS = """
import json, django
from django.conf import settings
django.setup()
db = settings.DATABASES["default"]
print(json.dumps({
    "debug": settings.DEBUG, "secret": settings.SECRET_KEY, "hosts": settings.ALLOWED_HOSTS,
    "db_engine": db["ENGINE"], "db_name": db["NAME"], "db_host": db.get("HOST"),
    "redis": settings.REDIS_URL, "inline": settings.JOBS_INLINE,
    "active": settings.STORAGES["active"], "archive": settings.STORAGES["archive"],
    "db_options": db.get("OPTIONS", {}), "conn_max_age": db["CONN_MAX_AGE"],
    "conn_health_checks": db["CONN_HEALTH_CHECKS"],
}))
"""


def settings_under(env):
    """Load the settings in a fresh interpreter with exactly ``env`` (plus PATH)."""
    result = subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "config.settings", **env},
    )
    return json.loads(result.stdout)


def test_development_defaults_sqlite_local_files_inline_jobs():
    # Without DEBUG a key is required (tests/test_secret_key.py); everything else has a default.
    s = settings_under({"SECRET_KEY": "k" * 60})
    assert s["debug"] is False
    assert s["db_engine"] == "django.db.backends.sqlite3" and s["db_name"].endswith("var/holdfast.sqlite3")
    assert s["inline"] is True and s["redis"] == ""
    assert s["active"]["BACKEND"].endswith("FileSystemStorage")
    assert s["active"]["OPTIONS"]["location"].endswith("var/storage/active")
    assert s["archive"]["OPTIONS"]["location"].endswith("var/storage/archive")


def test_settings_read_from_the_environment():
    s = settings_under(
        {
            "DEBUG": "true",
            "SECRET_KEY": "k" * 60,
            "ALLOWED_HOSTS": "holdfast.example,api.holdfast.example",
            "DATABASE_URL": "postgres://u:p@db.internal:5433/hf",
            "REDIS_URL": "redis://cache:6379/2",
            "S3_BUCKET": "recordings",
            "S3_ENDPOINT_URL": "http://127.0.0.1:9000",
            "S3_REGION": "eu-west-1",
            "S3_ARCHIVE_STORAGE_CLASS": "GLACIER_IR",
        }
    )
    assert s["debug"] is True and s["secret"] == "k" * 60
    assert s["hosts"] == ["holdfast.example", "api.holdfast.example"]
    assert s["db_engine"] == "django.db.backends.postgresql" and s["db_name"] == "hf"
    assert s["db_host"] == "db.internal"
    assert s["redis"] == "redis://cache:6379/2" and s["inline"] is False
    active, archive = s["active"]["OPTIONS"], s["archive"]["OPTIONS"]
    assert s["active"]["BACKEND"] == "storages.backends.s3.S3Storage"
    assert active["bucket_name"] == "recordings" and active["endpoint_url"] == "http://127.0.0.1:9000"
    assert active["region_name"] == "eu-west-1"
    # No archive bucket: same bucket, "archive/" prefix, the archive storage class.
    assert archive["bucket_name"] == "recordings" and archive["location"] == "archive"
    assert archive["object_parameters"] == {"StorageClass": "GLACIER_IR"}


def test_database_connections_kept_or_pooled():
    postgres = {"SECRET_KEY": "k" * 60, "DATABASE_URL": "postgres://u:p@db.internal:5432/hf"}
    s = settings_under(postgres)
    assert s["conn_max_age"] == 0 and s["conn_health_checks"] is False and "pool" not in s["db_options"]
    s = settings_under({**postgres, "DB_CONN_MAX_AGE": "60"})
    assert s["conn_max_age"] == 60 and s["conn_health_checks"] is True
    s = settings_under({**postgres, "DB_POOL": "true", "DB_POOL_MAX_SIZE": "8"})
    assert s["db_options"]["pool"] == {"min_size": 1, "max_size": 8} and s["conn_max_age"] == 0
    # SQLite (development) has no pool: the setting is ignored there.
    assert "pool" not in settings_under({"SECRET_KEY": "k" * 60, "DB_POOL": "true"})["db_options"]


def test_separate_archive_bucket():
    s = settings_under({"DEBUG": "true", "S3_BUCKET": "recordings", "S3_ARCHIVE_BUCKET": "recordings-archive"})
    assert s["archive"]["OPTIONS"]["bucket_name"] == "recordings-archive"
    assert s["archive"]["OPTIONS"]["location"] == ""


PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "p9#x!v2@Lq7$Wm4&Zr8*Tn1^Ks6(Hd3)Jf5_Gb0+Yc-ProductionOnlyKey",
    "ALLOWED_HOSTS": "holdfast.example",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
}


def test_check_deploy_is_clean_under_the_documented_production_settings(tmp_path):
    """The README's production variables pass `manage.py check --deploy` with no issue."""
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], "DATA_DIR": str(tmp_path), **PRODUCTION_ENV},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.django_db
def test_healthz_ok_with_database_redis_and_storage(client, settings):
    settings.JOBS_INLINE = False
    settings.REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] and body["redis"]["ok"] and body["storage"]["ok"]
    assert body["storage"]["active"] == "filesystem"


@pytest.mark.django_db
def test_healthz_reports_a_stopped_redis_as_unusable(client, settings):
    with socket.socket() as sock:  # a port where nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.JOBS_INLINE = False
    settings.REDIS_URL = f"redis://127.0.0.1:{port}/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["redis"]["ok"] is False and "ConnectionError" in body["redis"]["error"]
    assert body["database"]["ok"] is True


@pytest.mark.django_db
@pytest.mark.s3
def test_healthz_checks_s3_buckets(client, s3_storages):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["storage"]["active"] == "s3"


@pytest.mark.django_db
def test_healthz_inline_jobs_without_redis_is_healthy(client, settings):
    settings.JOBS_INLINE = True
    response = client.get("/healthz")
    assert response.status_code == 200
    assert "inline" in response.json()["redis"]["detail"]
