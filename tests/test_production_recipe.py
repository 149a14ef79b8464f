"""The README's Production section, followed as written: its environment block, its bucket
creation, its commands (``migrate``, ``collectstatic``, ``check --deploy``, gunicorn), and requests
carrying the headers its nginx snippet sets; then a user logs in and opens their tenant.

Only what cannot be the documented example is replaced: the secret key, the database (this test's),
Redis, the S3 endpoint, keys and bucket names (moto on loopback), and the static folder (a temp
folder). Everything else (DEBUG, ALLOWED_HOSTS, BEHIND_PROXY, SSL redirect, HSTS, secure cookies,
DB_CONN_MAX_AGE, S3_OBJECT_LOCK ...) is the README's value.
"""

import http.client
import json
import os
import re
import secrets
import shlex
import signal
import subprocess
import time
import uuid
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.conf import global_settings
from django.db import connection

from tests.factories import MembershipFactory, TenantFactory, UserFactory
from tests.loopback import free_port

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
HOST = "holdfast.example"
#: What the README's nginx snippet sends with every request it passes on.
PROXY_HEADERS = {"Host": HOST, "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}

pytestmark = pytest.mark.s3


def production_section():
    start = README.index("## Production")
    return README[start : README.index("\n## ", start + 1)]


def documented_environment():
    """The ``KEY=value`` lines of the README's ``# holdfast.env`` block."""
    match = re.search(r"```sh\n# holdfast\.env\n(.*?)```", production_section(), re.S)
    assert match, "the README's Production section has no '# holdfast.env' block"
    pairs = (line.split("=", 1) for line in match.group(1).splitlines() if line and not line.startswith("#"))
    return {key: value for key, value in pairs}


def documented_command(fragment):
    """The README's Production command line containing ``fragment``, as arguments (comment dropped)."""
    for line in production_section().splitlines():
        if line.startswith(".venv/bin/") and fragment in line:
            return shlex.split(line.split("  #", 1)[0])
    raise AssertionError(f"the README's Production section has no command with {fragment!r}")


def create_buckets_as_documented(s3_client, *buckets):
    """``aws s3api create-bucket --object-lock-enabled-for-bucket`` and ``put-bucket-versioning``."""
    section = production_section()
    assert "--object-lock-enabled-for-bucket" in section and "Status=Enabled" in section
    for bucket in buckets:
        s3_client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
        s3_client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})


def recipe_environment(tmp_path, s3_server, active, archive, database_url):
    """The documented environment, with the deployment-specific values of this test."""
    documented = documented_environment()
    replaced = {
        "SECRET_KEY": secrets.token_urlsafe(64),
        "DATABASE_URL": database_url,
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"),
        "S3_BUCKET": active,
        "S3_ARCHIVE_BUCKET": archive,
        "S3_REGION": "us-east-1",
        "S3_ENDPOINT_URL": s3_server,
        "S3_ACCESS_KEY_ID": "testing",
        "S3_SECRET_ACCESS_KEY": "testing",
        "STATIC_ROOT": str(tmp_path / "static"),
    }
    assert set(replaced) <= set(documented), f"not documented: {set(replaced) - set(documented)}"
    return {"PATH": os.environ["PATH"], **documented, **replaced}


def database_url_of_this_test():
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def run(command, env):
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{shlex.join(command)}:\n{result.stdout}{result.stderr}"
    return result


def start_gunicorn(env, log_path):
    """The documented gunicorn command, bound to a free loopback port instead of 8000."""
    command = documented_command("gunicorn config.wsgi")
    port = free_port()
    assert command[command.index("--bind") + 1] == "127.0.0.1:8000"
    command[command.index("--bind") + 1] = f"127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    return proc, port


def stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


class Browser:
    """Requests as the README's proxy forwards them: plain HTTP to gunicorn, with the proxy's
    headers. Its cookies are ``Secure`` (the proxy's client is on https), so they are kept here."""

    def __init__(self, port):
        self.port = port
        self.cookies = {}

    def request(self, method, path, body=None, headers=None, proxy=True):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        sent = {**(PROXY_HEADERS if proxy else {"Host": HOST}), **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{name}={morsel.value}" for name, morsel in self.cookies.items())
        try:
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            content = response.read().decode()
        finally:
            conn.close()
        for header in response.headers.get_all("Set-Cookie") or []:
            self.cookies.update(SimpleCookie(header))
        return response, content


def wait_until_serving(proc, browser, log_path, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"gunicorn exited ({proc.returncode}):\n{log_path.read_text()}")
        try:
            response, content = browser.request("GET", "/healthz")
            return response, content
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"gunicorn did not answer within {timeout} s:\n{log_path.read_text()}")


@pytest.mark.django_db(transaction=True)  # committed rows: gunicorn reads them from another process
def test_the_documented_production_recipe_serves_a_login(tmp_path, settings, s3_server, s3_client):
    active, archive = f"holdfast-active-{uuid.uuid4().hex[:8]}", f"holdfast-archive-{uuid.uuid4().hex[:8]}"
    create_buckets_as_documented(s3_client, active, archive)
    env = recipe_environment(tmp_path, s3_server, active, archive, database_url_of_this_test())
    assert env["BEHIND_PROXY"] == "true" and env["SECURE_SSL_REDIRECT"] == "true" and env["S3_OBJECT_LOCK"] == "true"

    run(documented_command("manage.py migrate"), env)
    run(documented_command("manage.py collectstatic"), env)
    check = run(documented_command("manage.py check --deploy"), env)  # also verifies both buckets
    assert "no issues" in check.stdout

    # The user is made here, with the hasher production verifies (the suite's own is a fast MD5).
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    tenant = TenantFactory(name="Recipe Contact Center", slug=f"recipe-{uuid.uuid4().hex[:6]}")
    user = UserFactory(username=f"recipe-{uuid.uuid4().hex[:6]}")
    MembershipFactory(user=user, tenant=tenant, role_name="Viewer")

    log_path = tmp_path / "gunicorn.log"
    proc, port = start_gunicorn(env, log_path)
    try:
        browser = Browser(port)
        response, content = wait_until_serving(proc, browser, log_path)
        assert response.status == 200, content
        health = json.loads(content)
        assert health["status"] == "ok" and health["storage"]["object_lock"] == "verified"
        assert health["database"]["ok"] and health["redis"]["ok"]

        # Without the proxy's X-Forwarded-Proto the app redirects to https (what the proxy serves) ...
        response, _ = browser.request("GET", "/login/", proxy=False)
        assert response.status == 301 and response.headers["Location"] == f"https://{HOST}/login/"

        # ... with it, the login page answers, with HSTS and a Secure CSRF cookie.
        response, content = browser.request("GET", "/login/")
        assert response.status == 200, content
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
        assert browser.cookies["csrftoken"]["secure"]
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', content).group(1)

        form = {"csrfmiddlewaretoken": token, "username": user.username, "password": "holdfast-test"}
        response, content = browser.request(
            "POST",
            "/login/",
            body=urlencode(form),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Origin": f"https://{HOST}",  # what a browser sends with a form POST
                "Referer": f"https://{HOST}/login/",
            },
        )
        assert response.status == 302, content
        assert response.headers["Location"] == "/"
        assert browser.cookies["sessionid"]["secure"] and browser.cookies["sessionid"]["httponly"]

        response, _ = browser.request("GET", "/")
        assert response.status == 302 and response.headers["Location"] == f"/t/{tenant.slug}/interactions/"
        response, content = browser.request("GET", f"/t/{tenant.slug}/interactions/")
        assert response.status == 200, content
        assert "Recipe Contact Center" in content
    finally:
        stop(proc)


def test_gunicorn_refuses_to_start_with_an_archive_bucket_without_object_lock(tmp_path, s3_server, s3_client):
    active, archive = f"holdfast-active-{uuid.uuid4().hex[:8]}", f"holdfast-archive-{uuid.uuid4().hex[:8]}"
    create_buckets_as_documented(s3_client, active)
    s3_client.create_bucket(Bucket=archive)  # created without --object-lock-enabled-for-bucket
    env = recipe_environment(tmp_path, s3_server, active, archive, documented_environment()["DATABASE_URL"])

    log_path = tmp_path / "gunicorn.log"
    proc, _ = start_gunicorn(env, log_path)
    try:
        proc.wait(60)
    finally:
        stop(proc)
    log = log_path.read_text()
    assert proc.returncode != 0, log
    assert f"archive bucket {archive}: versioning is not enabled and Object Lock is not enabled" in log
    assert "artifacts.E001" in log


#: The IAM actions each S3 operation of the storage service needs (objects are read, copied and
#: deleted by version, so both the plain and the ``…Version`` action). Django-storages' ``save``
#: (``write``) is ``PutObject``, multipart above 8 MB, aborted on failure.
S3_OPERATION_ACTIONS = {
    "head_bucket": {"s3:ListBucket"},
    "list_object_versions": {"s3:ListBucketVersions"},  # each write names its version, drops duplicates
    "get_bucket_versioning": {"s3:GetBucketVersioning"},
    "get_object_lock_configuration": {"s3:GetBucketObjectLockConfiguration"},
    "head_object": {"s3:GetObject", "s3:ListBucket"},  # ListBucket: a missing key answers 404, not 403
    "get_object": {"s3:GetObject", "s3:GetObjectVersion"},
    "copy_object": {"s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"},
    "put_object_legal_hold": {"s3:PutObjectLegalHold"},
    "get_object_legal_hold": {"s3:GetObjectLegalHold"},  # what a failed hold call left the object with
    "delete_objects": {"s3:DeleteObject", "s3:DeleteObjectVersion"},
    "save": {"s3:PutObject", "s3:AbortMultipartUpload"},
}
BUCKET_ACTIONS = {
    "s3:ListBucket",
    "s3:ListBucketVersions",
    "s3:GetBucketVersioning",
    "s3:GetBucketObjectLockConfiguration",
}


def test_the_documented_iam_policy_grants_exactly_the_s3_calls_the_storage_service_makes():
    import botocore.session
    from botocore import xform_name

    source = (ROOT / "artifacts" / "storage.py").read_text()
    s3_operations = {
        xform_name(name) for name in botocore.session.get_session().get_service_model("s3").operation_names
    }
    called = {name for name in re.findall(r"\.([a-z_]+)\(", source) if name in s3_operations}
    assert "self.backend.save(" in source
    called.add("save")
    unmapped = called - set(S3_OPERATION_ACTIONS)
    assert not unmapped, f"new S3 calls {unmapped}: add their IAM actions here and to the README's policy"

    policy = json.loads(re.search(r"```json\n(.*?)```", production_section(), re.S).group(1))
    granted = {}
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        for action in statement["Action"]:
            granted[action] = statement["Resource"]
    needed = set().union(*(S3_OPERATION_ACTIONS[name] for name in called))
    assert set(granted) == needed
    for action, resources in granted.items():
        on_objects = all(resource.endswith("/*") for resource in resources)
        assert on_objects != (action in BUCKET_ACTIONS), f"{action} is granted on {resources}"
        assert len(resources) == 2  # the active and the archive bucket
