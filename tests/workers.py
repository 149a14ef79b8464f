"""Helpers for tests that run real workers in other processes or threads."""

import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from django.db import connection, connections, transaction

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


@contextmanager
def rows_held(queryset):
    """Hold ``SELECT ... FOR UPDATE`` on ``queryset``'s rows in another thread until the block ends."""
    held, release = threading.Event(), threading.Event()

    def hold():
        try:
            with transaction.atomic():
                list(queryset.select_for_update())
                held.set()
                release.wait(60)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(10), "the rows could not be held"
    try:
        yield
    finally:
        release.set()
        holder.join(10)


def start_worker(env):
    """A real ``rqworker --burst`` in its own process group, on the test's database and Redis."""
    return subprocess.Popen(
        [sys.executable, "manage.py", "rqworker", env.get("RQ_QUEUE", os.environ["RQ_QUEUE"]), "--burst"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def kill_worker(worker):
    """SIGKILL the worker and its work horse (RQ runs each job in a forked child of its own group)."""
    subprocess.run(["pkill", "-KILL", "-P", str(worker.pid)], check=False)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(10)


def lock_commits_while_waiting(lock_request, work, message):
    """Process Add Lock ``lock_request`` in a transaction held open (rows held, locks inserted), run
    ``work()`` in another thread until it waits on those rows, then commit the locks and let it
    finish. Returns the exceptions ``work`` raised."""
    from accounts.actors import acting_for
    from artifacts import processing
    from artifacts.models import ManagementRequest, ManagementRequestItem

    locks_inserted, commit_locks = threading.Event(), threading.Event()
    pid, failures = {}, []

    def add_lock_in_open_transaction():
        try:
            with transaction.atomic():
                items = list(ManagementRequestItem.objects.filter(request=lock_request).select_related("interaction"))
                req = ManagementRequest.objects.get(pk=lock_request.pk)
                processing._add_locks(req, acting_for(req), items)
                locks_inserted.set()
                commit_locks.wait(30)
        finally:
            connections.close_all()

    def run_work():
        try:
            pid["pid"] = backend_pid()
            work()
        except Exception as exc:  # reported to the test
            failures.append(exc)
        finally:
            connections.close_all()

    locker = threading.Thread(target=add_lock_in_open_transaction)
    locker.start()
    assert locks_inserted.wait(10)
    worker = threading.Thread(target=run_work)
    worker.start()
    try:
        wait_for(lambda: "pid" in pid and waiting_on_lock(pid["pid"]), message=message)
    finally:
        commit_locks.set()
        locker.join(10)
        worker.join(30)
    return failures
