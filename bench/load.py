"""Load test of the web pages (not part of the test suite): gunicorn on loopback against the
benchmark database of ``bench/lists.py``, driven by locust (headless, as a library).

    .venv/bin/python bench/load.py                                # 2 and 4 workers, 60 s each, 20 users
    .venv/bin/python bench/load.py --seconds 20 --workers 2       # a quick run
    .venv/bin/python bench/load.py --conn-max-age 0 60            # compare database connection settings

The database (``holdfast_bench_lists``; ``BENCH_DATABASE`` / ``BENCH_PG`` move it) must have been
built by ``bench/lists.py`` (1,000,000 interactions by default). For each connection setting and
each worker count, gunicorn starts with ``DB_CONN_MAX_AGE`` set so (``pool`` = ``DB_POOL=true``,
psycopg's pool), then 20 users, each signed in with a session of its own as ``admin-acme``, send
requests back to back for ``--seconds``: the list (page 1), filtered lists, a page deep in the list,
an interaction's page, a Range request on a recording (play) and a CSV export of one day's SMS. Prints per
run: requests per second, p50 / p99 (ms), errors (must be 0; exit 1 otherwise), the most database
connections open on the benchmark database during the run (``pg_stat_activity``), and the load of
the machine (it is shared: compare runs of one invocation, not across invocations).
"""

from gevent import monkey

monkey.patch_all()  # first: locust's user greenlets need cooperative sockets

import argparse  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import secrets  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, bench/ comes first on sys.path, where bench/requests.py would shadow the
# `requests` library locust uses: the project's root replaces it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import gevent  # noqa: E402
import psycopg  # noqa: E402
from locust import HttpUser, constant, task  # noqa: E402
from locust.env import Environment  # noqa: E402

BENCH_DB = os.environ.get("BENCH_DATABASE", "holdfast_bench_lists")
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DATABASE_URL = f"{PG}/{BENCH_DB}"
USERNAME, PASSWORD = "admin-acme", "holdfast-demo"
TENANT = "acme"

ARGS = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ARGS.add_argument("--seconds", type=int, default=60, help="measured time per run")
ARGS.add_argument("--users", type=int, default=20)
ARGS.add_argument("--workers", type=int, nargs="+", default=[2, 4], help="gunicorn worker counts")
ARGS.add_argument(
    "--conn-max-age",
    nargs="+",
    default=["0", "60"],
    help="DB_CONN_MAX_AGE values to compare (seconds), or 'pool' for DB_POOL=true",
)


def load():
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Targets:
    """What the users ask for, read from the benchmark database once: interactions with their own
    content (``seed_demo``'s, not the set-based copies), their recordings, a deep page's position
    and a day of the list."""

    def __init__(self):
        with psycopg.connect(DATABASE_URL) as conn:
            tenant_id = conn.execute("SELECT id FROM accounts_tenant WHERE slug = %s", [TENANT]).fetchone()[0]
            self.detail = [
                str(g)
                for (g,) in conn.execute(
                    """SELECT i.guid FROM interactions_interaction i WHERE i.tenant_id = %s
                       AND EXISTS (SELECT 1 FROM artifacts_artifact a WHERE a.interaction_id = i.id
                                   AND a.state = 'stored' AND a.storage_key NOT LIKE '%%~%%')
                       ORDER BY i.id LIMIT 500""",
                    [tenant_id],
                )
            ]
            self.recordings = [
                artifact_id
                for (artifact_id,) in conn.execute(
                    """SELECT id FROM artifacts_artifact WHERE tenant_id = %s AND state = 'stored'
                       AND content_type LIKE 'audio/%%' AND storage_key NOT LIKE '%%~%%' ORDER BY id LIMIT 500""",
                    [tenant_id],
                )
            ]
            total = conn.execute(
                "SELECT count(*) FROM interactions_interaction WHERE tenant_id = %s", [tenant_id]
            ).fetchone()[0]
            started, pk = conn.execute(
                """SELECT started_at, id FROM interactions_interaction WHERE tenant_id = %s
                   ORDER BY started_at DESC, id DESC OFFSET %s LIMIT 1""",
                [tenant_id, min(total // 2, 500_000)],
            ).fetchone()
            self.deep = {"after": f"{started.isoformat()}_{pk}"}
            self.day = str(started.date())
            self.prefixes = [
                f[:6]
                for (f,) in conn.execute(
                    "SELECT from_address FROM interactions_interaction WHERE tenant_id = %s LIMIT 50", [tenant_id]
                )
            ]
        self.total = total
        assert self.detail and self.recordings, "run bench/lists.py first: the database has no seeded content"


TARGETS = None


class Administrator(HttpUser):
    """One signed-in administrator working through the pages without pause (a closed loop)."""

    wait_time = constant(0)
    base = f"/t/{TENANT}/interactions/"

    def on_start(self):
        self.client.get("/login/", name="sign in (setup)")
        token = self.client.cookies.get("csrftoken")
        response = self.client.post(
            "/login/",
            {"username": USERNAME, "password": PASSWORD, "csrfmiddlewaretoken": token},
            headers={"Referer": self.host + "/login/"},
            name="sign in (setup)",
            allow_redirects=False,
        )
        assert response.status_code == 302, response.status_code
        SIGNED_IN.append(self)

    @task(4)
    def list_page(self):
        self.client.get(self.base, name="list")

    @task(3)
    def filtered(self):
        params = random.choice(
            [
                {"channel": "sms"},
                {"locked": "no", "sort": "started_at"},
                {"artifact_type": "voicemail"},
                {"q": random.choice(TARGETS.prefixes)},
                {"agent": "Priya"},
            ]
        )
        self.client.get(self.base, params=params, name="list, filtered")

    @task(1)
    def deep_page(self):
        self.client.get(self.base, params=TARGETS.deep, name="list, page 10,000")

    @task(3)
    def detail(self):
        self.client.get(f"{self.base}{random.choice(TARGETS.detail)}/", name="interaction page")

    @task(2)
    def play(self):
        with self.client.get(
            f"/t/{TENANT}/artifacts/{random.choice(TARGETS.recordings)}/play/",
            headers={"Range": "bytes=0-65535"},
            name="play (Range)",
            catch_response=True,
        ) as response:
            if response.status_code != 206:
                response.failure(f"status {response.status_code}, not 206")

    @task(1)
    def csv(self):
        # A day of one channel: about 1,000 of the million rows (a whole day, 11,000, would make
        # the mix a CSV benchmark).
        params = {"started_from": TARGETS.day, "started_to": TARGETS.day, "channel": "sms"}
        self.client.get(f"{self.base}export.csv", params=params, name="CSV, one day of SMS")


SIGNED_IN = []


def start_gunicorn(workers, conn_max_age, port, log):
    """gunicorn as README's production recipe starts it, on loopback, against the bench database."""
    env = {
        **os.environ,
        "DATABASE_URL": DATABASE_URL,
        "DEBUG": "false",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATA_DIR": os.environ.get("DATA_DIR", str(Path(tempfile.gettempdir()) / "holdfast-bench-lists")),
        "STATIC_ROOT": str(STATIC_ROOT),
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "LOG_LEVEL": "WARNING",
        "DB_CONN_MAX_AGE": "0" if conn_max_age == "pool" else conn_max_age,
        "DB_POOL": "true" if conn_max_age == "pool" else "false",
    }
    env.pop("REDIS_URL", None)
    command = [
        str(ROOT / ".venv/bin/gunicorn"),
        "config.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--timeout",
        "120",
    ]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited ({proc.returncode}); see {log.name}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"gunicorn did not answer within 60 s; see {log.name}")


def watch_connections(samples, stop):
    """Every 0.2 s: connections open on the benchmark database (other than this one), as
    ``(count, "state: n, …")``."""
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        while not stop.is_set():
            states = conn.execute(
                """SELECT coalesce(state, '?'), count(*) FROM pg_stat_activity
                   WHERE datname = %s AND pid <> pg_backend_pid() GROUP BY 1 ORDER BY 1""",
                [BENCH_DB],
            ).fetchall()
            samples.append((sum(n for _, n in states), ", ".join(f"{state} {n}" for state, n in states)))
            gevent.sleep(0.2)


def run(workers, conn_max_age, options):
    """One gunicorn configuration under load; the figures of its run."""
    from gevent.event import Event

    port = free_port()
    with open(Path(tempfile.gettempdir()) / f"holdfast-load-{port}.log", "w") as log:
        proc = start_gunicorn(workers, conn_max_age, port, log)
        try:
            SIGNED_IN.clear()
            env = Environment(user_classes=[Administrator], host=f"http://127.0.0.1:{port}")
            runner = env.create_local_runner()
            runner.start(options.users, spawn_rate=options.users)
            deadline = time.monotonic() + 120
            while len(SIGNED_IN) < options.users and time.monotonic() < deadline:
                gevent.sleep(0.1)
            assert len(SIGNED_IN) == options.users, "not every user could sign in"
            env.stats.reset_all()  # the measured run starts once everyone is signed in
            samples, stop = [], Event()
            watcher = gevent.spawn(watch_connections, samples, stop)
            before = load()
            started = time.monotonic()
            gevent.sleep(options.seconds)
            elapsed = time.monotonic() - started
            total = env.stats.total
            figures = {
                "requests": total.num_requests,
                "rps": total.num_requests / elapsed,
                "p50": total.get_response_time_percentile(0.5),
                "p99": total.get_response_time_percentile(0.99),
                "errors": total.num_failures,
                "connections": max(samples or [(0, "")])[0],
                "connection_states": max(samples or [(0, "")])[1],
                "load": f"{before} → {load()}",
                "by_name": {
                    name: (entry.num_requests, entry.get_response_time_percentile(0.5), entry.num_failures)
                    for (name, _), entry in sorted(env.stats.entries.items())
                },
                "error_kinds": [f"{e.name}: {e.error} ({e.occurrences}x)" for e in env.stats.errors.values()],
            }
            runner.quit()
            stop.set()
            watcher.join()
            return figures
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


STATIC_ROOT = Path(tempfile.gettempdir()) / "holdfast-bench-load-static"


def collectstatic():
    """The manifest of the static files (the templates' {% static %} needs it without DEBUG)."""
    env = {**os.environ, "DATABASE_URL": DATABASE_URL, "STATIC_ROOT": str(STATIC_ROOT), "DEBUG": "false"}
    env.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    command = [str(ROOT / ".venv/bin/python"), "manage.py", "collectstatic", "--noinput", "-v0"]
    subprocess.run(command, cwd=ROOT, env=env, check=True)


def main():
    global TARGETS
    options = ARGS.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # each run's figures as soon as it ends
    collectstatic()
    TARGETS = Targets()
    print(
        f"Load: {options.users} signed-in users back to back, {options.seconds} s per run, gunicorn (sync workers) "
        f"on loopback, database {BENCH_DB} ({TARGETS.total:,} interactions in {TENANT}); {load()}"
    )
    results = []
    for conn_max_age in options.conn_max_age:
        for workers in options.workers:
            figures = run(workers, conn_max_age, options)
            results.append((workers, conn_max_age, figures))
            setting = "DB_POOL=true" if conn_max_age == "pool" else f"DB_CONN_MAX_AGE={conn_max_age}"
            print(
                f"\n{workers} workers, {setting}: {figures['rps']:.1f} requests/s ({figures['requests']:,} requests), "
                f"p50 {figures['p50']:.0f} ms, p99 {figures['p99']:.0f} ms, errors {figures['errors']}, "
                f"DB connections max {figures['connections']} ({figures['connection_states']}); {figures['load']}"
            )
            for name, (count, p50, errors) in figures["by_name"].items():
                print(f"    {name:24} {count:>7,} requests  p50 {p50:>6.0f} ms  errors {errors}")
            for line in figures["error_kinds"]:
                print(f"    ERROR {line}")
    print(f"\n{'workers':>7} {'setting':>22} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'DB conns':>8}")
    for workers, conn_max_age, f in results:
        setting = "DB_POOL=true" if conn_max_age == "pool" else f"DB_CONN_MAX_AGE={conn_max_age}"
        print(
            f"{workers:>7} {setting:>22} {f['rps']:>8.1f} {f['p50']:>7.0f} {f['p99']:>7.0f} {f['errors']:>6} "
            f"{f['connections']:>8}"
        )
    if any(f["errors"] for _, _, f in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
