"""The development setup never fails: ``bin/serve``'s setup on SQLite (migrate, seed a small tenant),
a real RQ worker and the development server, then every page and admin changelist as support and
as each role answers as expected (200 / 403 / 404, never a 500), and ten concurrent Protect
toggles, then ten Releases, all complete through the worker ("database is locked" broke 3 of 11)."""

import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from accounts.permissions import (
    ACCESS_CONTENT,
    ARTIFACTS_MANAGEMENT_REQUESTS_CREATE,
    ARTIFACTS_MANAGEMENT_REQUESTS_READ,
    DEFAULT_ROLES,
    MANAGE_LIFECYCLE_POLICIES,
    MANAGE_MEMBERS,
    VIEW_AUDIT,
    VIEW_INTERACTIONS,
)
from tests.workers import ROOT, wait_for

PASSWORD = "holdfast-demo"
ROLE_USERS = {
    "viewer": "Viewer",
    "supervisor": "Supervisor",
    "compliance": "Compliance Officer",
    "admin": "Administrator",
}

ACME_INTERACTIONS = (
    "SELECT guid FROM interactions_interaction i JOIN accounts_tenant t ON t.id = i.tenant_id "
    "WHERE t.slug = 'acme' ORDER BY i.id LIMIT 10"
)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory):
    """migrate + seed_demo on SQLite, an RQ worker on this run's queue and ``runserver``, as bin/serve."""
    data = tmp_path_factory.mktemp("dev")
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"sqlite:///{data}/holdfast.sqlite3",
        "DATA_DIR": str(data),
        "REDIS_URL": os.environ["REDIS_URL"],
        # A queue of its own: jobs of the PostgreSQL tests never reach this SQLite worker.
        "RQ_QUEUE": f"{os.environ['RQ_QUEUE']}-sqlite",
        "DEBUG": "true",
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=300)
    subprocess.run([*manage, "seed_demo", "--interactions", "12", "-v", "0"], cwd=ROOT, env=env, check=True,
                   timeout=300, stdout=subprocess.DEVNULL)  # fmt: skip
    port = free_port()
    logs = open(data / "processes.log", "wb")  # noqa: SIM115 - closed at teardown
    processes = [
        subprocess.Popen([*manage, "rqworker", env["RQ_QUEUE"]], cwd=ROOT, env=env, stdout=logs, stderr=logs),
        subprocess.Popen(
            [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"], cwd=ROOT, env=env, stdout=logs, stderr=logs
        ),
    ]
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{base}/healthz", timeout=2).status_code in (200, 503):
                break
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError((data / "processes.log").read_text()[-3000:])
        time.sleep(0.3)
    yield {"base": base, "db": data / "holdfast.sqlite3", "log": data / "processes.log"}
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(20)
    logs.close()


def session(base, username):
    client = requests.Session()
    page = client.get(f"{base}/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    client.post(
        f"{base}/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{base}/login/"},
    )
    assert "sessionid" in client.cookies, f"{username} could not sign in"
    return client


def query(db, sql, *params):
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        return conn.execute(sql, params).fetchall()


def pages(db):
    """Every tenant page of acme, with the permission it needs."""
    (guid,) = query(db, "SELECT guid FROM interactions_interaction ORDER BY id LIMIT 1")[0]
    guid = "-".join((guid[:8], guid[8:12], guid[12:16], guid[16:20], guid[20:])) if "-" not in guid else guid
    (artifact,) = query(db, "SELECT id FROM artifacts_artifact WHERE tenant_id = "
                            "(SELECT id FROM accounts_tenant WHERE slug = 'acme') ORDER BY id LIMIT 1")[0]  # fmt: skip
    (policy,) = query(db, "SELECT id FROM policies_lifecyclepolicy WHERE is_default = 0 ORDER BY id LIMIT 1")[0]
    (role,) = query(db, "SELECT id FROM accounts_role ORDER BY id LIMIT 1")[0]
    t = "/t/acme"
    requests_page = f"{t}/configuration/artifacts-management-requests"
    policies = f"{t}/configuration/artifacts-lifecycle-policies"
    return {
        f"{t}/interactions/": VIEW_INTERACTIONS,
        f"{t}/interactions/?channel=voice&locked=no&sort=started_at": VIEW_INTERACTIONS,
        f"{t}/interactions/export.csv": VIEW_INTERACTIONS,
        f"{t}/interactions/{guid}/": VIEW_INTERACTIONS,
        f"{t}/artifacts/{artifact}/download/": ACCESS_CONTENT,
        f"{t}/artifacts/{artifact}/play/": ACCESS_CONTENT,
        f"{requests_page}/": ARTIFACTS_MANAGEMENT_REQUESTS_READ,
        f"{requests_page}/new/": ARTIFACTS_MANAGEMENT_REQUESTS_CREATE,
        f"{policies}/": VIEW_INTERACTIONS,
        f"{policies}/new/": MANAGE_LIFECYCLE_POLICIES,
        f"{policies}/{policy}/edit/": MANAGE_LIFECYCLE_POLICIES,
        f"{policies}/{policy}/disable/": MANAGE_LIFECYCLE_POLICIES,
        f"{t}/configuration/users-and-roles/": MANAGE_MEMBERS,
        f"{t}/configuration/users-and-roles/roles/new/": MANAGE_MEMBERS,
        f"{t}/configuration/users-and-roles/roles/{role}/": MANAGE_MEMBERS,
        f"{t}/configuration/audit/": VIEW_AUDIT,
        f"{t}/configuration/audit/?kind=artifact_stored&source=command": VIEW_AUDIT,
        f"{t}/configuration/audit/export.csv": VIEW_AUDIT,
        f"{t}/configuration/audit/export.zip?kind=artifact_stored": VIEW_AUDIT,
    }


def test_every_page_as_every_role_and_support(dev_server):
    base, db = dev_server["base"], dev_server["db"]
    answers = {}
    for prefix, role in ROLE_USERS.items():
        client = session(base, f"{prefix}-acme")
        for url, needed in pages(db).items():
            got = client.get(base + url, allow_redirects=False).status_code
            answers[(role, url)] = (got, 200 if needed in DEFAULT_ROLES[role] else 403)
    outsider = session(base, "admin-globex")
    for url in pages(db):
        answers[("globex admin", url)] = (outsider.get(base + url, allow_redirects=False).status_code, 404)
    support = session(base, "support")
    for url in pages(db):
        answers[("support", url)] = (support.get(base + url, allow_redirects=False).status_code, 200)
    admin_index = support.get(f"{base}/admin/").text
    changelists = sorted(set(re.findall(r'href="(/admin/[a-z_]+/[a-z_]+/)"', admin_index)))
    assert len(changelists) >= 10, changelists
    for url in [*changelists, "/admin/django-rq/", "/admin/django-rq/stats.json/"]:
        answers[("support", url)] = (support.get(base + url, allow_redirects=False).status_code, 200)
    wrong = {key: got for key, (got, expected) in answers.items() if got != expected}
    assert wrong == {}, f"{wrong}\n{dev_server['log'].read_text()[-4000:]}"


def test_ten_concurrent_protect_toggles_then_releases_all_complete(dev_server):
    base, db = dev_server["base"], dev_server["db"]
    guids = [row[0] for row in query(db, ACME_INTERACTIONS)]
    guids = [g if "-" in g else "-".join((g[:8], g[8:12], g[12:16], g[16:20], g[20:])) for g in guids]
    client = session(base, "compliance-acme")

    def toggle(guid, protect):
        page = client.get(f"{base}/t/acme/interactions/{guid}/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        data = {"csrfmiddlewaretoken": token, "confirmed": "on", "confirms": "add_lock" if protect else "remove_lock"}
        if protect:
            data["protected"] = "on"
        response = client.post(f"{base}/t/acme/interactions/{guid}/protection/", data=data,
                               headers={"Referer": base}, allow_redirects=False)  # fmt: skip
        return response.status_code

    for protect, request_type in ((True, "add_lock"), (False, "remove_lock")):
        with ThreadPoolExecutor(max_workers=10) as pool:
            statuses = list(pool.map(lambda g, p=protect: toggle(g, p), guids))
        assert statuses == [302] * 10, f"{statuses}\n{dev_server['log'].read_text()[-4000:]}"

        def finished(kind=request_type):
            rows = query(db, "SELECT status FROM artifacts_managementrequest WHERE request_type = ?", kind)
            return len(rows) == 10 and all(status in ("complete", "error") for (status,) in rows)

        try:
            wait_for(finished, timeout=180, message=f"the ten {request_type} requests to finish")
        except AssertionError as exc:
            rows = query(db, "SELECT id, status, error_message FROM artifacts_managementrequest")
            raise AssertionError(f"{exc}: {rows}\n{dev_server['log'].read_text()[-3000:]}") from None
        rows = query(db, "SELECT status, error_message FROM artifacts_managementrequest WHERE request_type = ?",
                     request_type)  # fmt: skip
        assert rows == [("complete", "")] * 10, rows
    log = dev_server["log"].read_text()
    assert "database is locked" not in log and "Traceback" not in log, log[-4000:]
