"""Helpers for tests that run real workers in other processes or threads."""

import os
import time
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def worker_env(**overrides):
    """Environment for a worker subprocess on this test's database (plus ``overrides``)."""
    db = connection.settings_dict
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        **overrides,
    }


def shared_storage(settings):
    """Point the test's file storages at ``<tmp>/data/storage/{active,archive}``, where a worker
    subprocess started with ``DATA_DIR=<returned path>`` finds the same files; returns that path."""
    data_dir = Path(settings.STORAGES["active"]["OPTIONS"]["location"]).parent / "data"
    for name in ("active", "archive"):
        settings.STORAGES[name]["OPTIONS"]["location"] = str(data_dir / "storage" / name)
    settings.STORAGES = dict(settings.STORAGES)
    return data_dir


def wait_for(predicate, timeout=30, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {message}")


def backend_pid():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def waiting_on_lock(pid):
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return bool(row) and row[0] == "Lock"
