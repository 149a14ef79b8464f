"""Benchmark of the interactions list (not part of the test suite).

    .venv/bin/python bench/lists.py                      # 1,000,000 interactions (+ 100,000 in a 2nd tenant)
    .venv/bin/python bench/lists.py --interactions 50000 # a quick run
    .venv/bin/python bench/lists.py --reseed             # drop the database first

PostgreSQL database ``holdfast_bench_lists`` on 127.0.0.1 (``BENCH_PG`` / ``BENCH_DATABASE`` move it),
kept between runs: it is created, migrated and seeded (``seed_demo``: tenant acme with N interactions,
~2.8 artifacts each, globex with N/10) only when it has fewer interactions than asked for. Prints:

- (a) list page 1 vs a page deep in the list (keyset cursor at row N/2: page 10,000 of 50 rows at 1M),
  server time of the view (median) — goal <= 1.2x;
- (b) server time of the list view vs a raw SQL fetch of the same rows and columns — goal <= 3x;
- (c) the list's query with the tenant filter (restrict + tenant) vs the same query unfiltered —
  goal <= 1.5x;
- (d) SQL statements of the view at page size 10 vs 100 — goal: equal;
- filtered / searched pages (server time) and a CSV export of the 2nd tenant (N/10 rows): time,
  peak Python memory;
- the query plans (EXPLAIN ANALYZE) of page 1, the deep page and the searches.
"""

import argparse
import os
import re
import secrets
import statistics
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, bench/ comes first on sys.path, where requests.py and api.py would shadow the
# `requests` library and the `api` app: the project's root replaces it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))
BENCH_DB = os.environ.get("BENCH_DATABASE", "holdfast_bench_lists")
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
os.environ["DATABASE_URL"] = f"{PG}/{BENCH_DB}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))  # required without DEBUG
os.environ.setdefault("DATA_DIR", str(Path(tempfile.gettempdir()) / "holdfast-bench-lists"))
os.environ.pop("REDIS_URL", None)  # request processing runs inline (config.jobs)
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ["ALLOWED_HOSTS"] = "testserver"
warnings.filterwarnings("ignore", message="No directory at")

RUNS = 21
LOCKED = 200  # interactions under a lock, so that the Locked filter has something to find


def ensure_database(reseed):
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        if reseed:
            conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB]).fetchone():
            conn.execute(f'CREATE DATABASE "{BENCH_DB}"')


ARGS = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ARGS.add_argument("--interactions", type=int, default=1_000_000)
ARGS.add_argument("--reseed", action="store_true")
ARGS.add_argument(
    "--floor-only", action="store_true", help="only the server times against the framework's floor (and the CSV rate)"
)
ARGS.add_argument("--rounds", type=int, default=100, help="interleaved rounds of the server-time measure")
if __name__ == "__main__":  # bench/api.py imports the database builder (ensure_database, seed) alone
    OPTIONS = ARGS.parse_args()
    ensure_database(OPTIONS.reseed)

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402

from accounts.actors import user_actor  # noqa: E402
from accounts.models import Tenant, User  # noqa: E402
from artifacts.models import Artifact, Lock  # noqa: E402
from artifacts.services import create_management_request  # noqa: E402
from config import jobs  # noqa: E402
from core.vocabulary import ANY  # noqa: E402
from interactions.models import Interaction  # noqa: E402
from workspace.filters import list_query, with_columns  # noqa: E402


def admin_rows():
    """The interactions admin-acme may see in acme: what the list view starts from."""
    from accounts.permissions import VIEW_INTERACTIONS

    return Interaction.objects.restrict(User.objects.get(username="admin-acme"), VIEW_INTERACTIONS).filter(
        tenant__slug="acme"
    )


#: Interactions per tenant made by ``seed_demo`` (real content, one storage object each); above it
#: the tenant is filled by set-based copies (:func:`replicate`).
REAL = 50_000


def replicate(tenant_id, count):
    """Fill the tenant up to ``count`` interactions with copies of its seeded ones, in two
    ``INSERT … SELECT`` statements (interactions, then their artifacts) in one transaction: a
    million rows in minutes, where the row-by-row seed needs most of an hour on a loaded machine.

    Copy ``k`` of an interaction has a GUID derived from the original's and ``k``, the same fields
    ``13 * k`` seconds earlier, and source ids with ``-k`` appended (unique per tenant). Its
    artifacts keep type, state and size, with the storage key ``<original>~k``: a key no object
    has, so only the originals' content can be played (the list pages read no content).
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), max(id) FROM interactions_interaction WHERE tenant_id = %s", [tenant_id])
        have, last_id = cursor.fetchone()
        if have >= count:
            return
        started = time.monotonic()
        print(f"replicating: {have:,} → {count:,} interactions (set-based copies) …", flush=True)
        with transaction.atomic():
            cursor.execute(
                """
                CREATE TEMP TABLE bench_copy ON COMMIT DROP AS
                SELECT i.id AS source_id, k, nextval(pg_get_serial_sequence('interactions_interaction', 'id')) AS new_id
                FROM generate_series(1, %(rounds)s) AS k
                CROSS JOIN (
                    SELECT id FROM interactions_interaction WHERE tenant_id = %(tenant)s AND id <= %(last)s
                ) AS i
                ORDER BY k, i.id
                LIMIT %(missing)s
                """,
                {"rounds": -(-(count - have) // have), "tenant": tenant_id, "last": last_id, "missing": count - have},
            )
            cursor.execute(
                """
                INSERT INTO interactions_interaction (
                    id, guid, channel, direction, origin, started_at, ended_at, duration_seconds, from_address,
                    to_address, agent_id, agent_name, source_system, source_call_id, source_task_id, metadata,
                    created_at, tenant_id)
                SELECT c.new_id, md5(i.guid::text || ':' || c.k)::uuid, i.channel, i.direction, i.origin,
                       i.started_at - c.k * interval '13 seconds', i.ended_at - c.k * interval '13 seconds',
                       i.duration_seconds, i.from_address, i.to_address, i.agent_id, i.agent_name, i.source_system,
                       CASE WHEN i.source_call_id = '' THEN '' ELSE left(i.source_call_id, 54) || '-' || c.k END,
                       CASE WHEN i.source_task_id = '' THEN '' ELSE left(i.source_task_id, 54) || '-' || c.k END,
                       i.metadata, i.created_at - c.k * interval '13 seconds', i.tenant_id
                FROM bench_copy c JOIN interactions_interaction i ON i.id = c.source_id
                """
            )
            fields = [f.column for f in Artifact._meta.concrete_fields if not f.primary_key]
            changed = {
                "interaction_id": "c.new_id",
                "storage_key": "a.storage_key || '~' || c.k",
                "created_at": "a.created_at - c.k * interval '13 seconds'",
                "idempotency_key": "CASE WHEN a.idempotency_key = '' THEN '' ELSE a.idempotency_key || '~' || c.k END",
            }
            cursor.execute(
                f"INSERT INTO artifacts_artifact ({', '.join(fields)}) "
                f"SELECT {', '.join(changed.get(f, f'a.{f}') for f in fields)} "
                "FROM bench_copy c JOIN artifacts_artifact a ON a.interaction_id = c.source_id"
            )
        print(f"  replicated {count - have:,} interactions in {time.monotonic() - started:.1f} s", flush=True)


def seed(n):
    """acme with ``n`` interactions, globex with n/10 (``seed_demo`` up to :data:`REAL` each, then
    :func:`replicate`), a few hundred locked; ANALYZE."""
    call_command("migrate", verbosity=0)
    for slug, count in (("acme", n), ("globex", max(n // 10, 1))):
        have = Interaction.objects.filter(tenant__slug=slug).count()
        real = min(count, REAL)
        if have < real:
            print(f"seeding {slug}: {have:,} → {real:,} interactions …", flush=True)
            call_command("seed_demo", interactions=real, tenant=slug, verbosity=1)
        replicate(Tenant.objects.get(slug=slug).pk, count)
    acme = Tenant.objects.get(slug="acme")
    if not Lock.objects.filter(tenant=acme).exists():
        admin = User.objects.get(username="admin-acme")
        ids = Interaction.objects.filter(tenant=acme).order_by("-started_at", "-id").values_list("guid", flat=True)
        middle = list(ids[n // 3 : n // 3 + LOCKED])
        for start in range(0, len(middle), 200):
            req = create_management_request(
                acme.pk,
                user_actor(admin),
                request_type="add_lock",
                artifact_type=ANY,
                interaction_ids=",".join(str(g) for g in middle[start : start + 200]),
                confirmed=True,
            )
            jobs.work("management_request", req.pk)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE interactions_interaction")
        cursor.execute("VACUUM ANALYZE artifacts_artifact")
        cursor.execute("ANALYZE artifacts_lock")


def median_seconds(fn, runs=RUNS):
    fn()  # warm (plans, caches)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def compare(baseline, measured, runs=RUNS):
    """Medians of two functions timed alternately, so that load from other processes on the machine
    weighs on both alike."""
    baseline(), measured()
    times = ([], [])
    for _ in range(runs):
        for fn, out in ((baseline, times[0]), (measured, times[1])):
            started = time.perf_counter()
            fn()
            out.append(time.perf_counter() - started)
    return statistics.median(times[0]), statistics.median(times[1])


def get(client, path, params=None):
    response = client.get(path, params or {})
    assert response.status_code == 200, (response.status_code, path, params)
    return response


def shown_guids(response):
    """The GUIDs of the rows a list page shows, in order (``response.context`` needs the test runner)."""
    return re.findall(r'<tr data-guid="([0-9a-f-]+)"', response.content.decode())


def raw_page(tenant_id, limit, after=None):
    """The page's rows and columns in hand-written SQL (psycopg cursor, tuples; no deletion date)."""
    keyset = "AND (i.started_at, i.id) < (%s, %s)" if after else ""
    sql = f"""
        SELECT i.id, i.guid, i.channel, i.direction, i.origin, i.started_at, i.duration_seconds,
               i.from_address, i.to_address, i.agent_name,
               EXISTS (SELECT 1 FROM artifacts_lock l WHERE l.interaction_id = i.id AND l.released_at IS NULL
                       AND (l.expires_at IS NULL OR l.expires_at > now())) AS locked,
               ARRAY(SELECT DISTINCT a.artifact_type FROM artifacts_artifact a
                     WHERE a.interaction_id = i.id AND a.state <> 'deleted') AS types
        FROM interactions_interaction i
        WHERE i.tenant_id = %s {keyset}
        ORDER BY i.started_at DESC, i.id DESC LIMIT %s"""
    params = [tenant_id, *(after or ()), limit]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def explain(queryset):
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        for _ in range(2):  # the second run: warm caches, as the timed pages are
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS OFF, SUMMARY ON) " + sql, params)
            lines = [row[0] for row in cursor.fetchall()]
        return lines


def plan_summary(lines):
    scans = [line.strip() for line in lines if "Index" in line and "Scan" in line and "->" in line]
    total = next((line for line in lines if line.startswith("Execution Time")), "")
    seq = [line.strip() for line in lines if "Seq Scan" in line]
    return scans[:3], seq, total


def load():
    """``load average: 1-min, 5-min, 15-min`` of the machine (the bench shares it)."""
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def percentile(values, p):
    """The ``p``-th percentile (0-100) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def page_statement(client, path, params=None):
    """The list view's page statement (parameters bound) as it ran for ``path``: what the floor runs."""
    with CaptureQueriesContext(connection) as queries:
        get(client, path, params)
    (sql,) = [q["sql"] for q in queries.captured_queries if "LIMIT 51" in q["sql"]]
    return sql


def floor_report(rounds):
    """Server time (Django test client, in process) of the list page 1, the page 10,000 deep, the
    interaction page and the floor (bench/floor.py) of both list pages, interleaved round by round
    so that the machine's load weighs on all alike; p50 / p95 and the ratio list / floor. Then the
    CSV export's rows per second."""
    from bench import floor

    acme = Tenant.objects.get(slug="acme")
    client = Client()
    client.force_login(User.objects.get(username="admin-acme"))
    url, floor_url = "/t/acme/interactions/", "/t/acme/interactions-floor/"
    total = Interaction.objects.filter(tenant=acme).count()
    depth = min(total // 2, 500_000)
    deep = Interaction.objects.filter(tenant=acme).order_by("-started_at", "-id")[depth - 1]
    deep_params = {"after": f"{deep.started_at.isoformat()}_{deep.pk}"}
    floor.set_statement("page", page_statement(client, url))
    floor.set_statement("deep", page_statement(client, url, deep_params))
    # An interaction with the most kinds of content the seed makes (call recording, transcript …).
    shown = shown_guids(get(client, url))
    detail_guid = max(shown, key=lambda g: Artifact.objects.filter(interaction__guid=g).count())
    assert shown_guids(get(client, floor_url)) == shown, "the floor must show the page's rows"
    assert shown_guids(get(client, floor_url, {"statement": "deep"})) == shown_guids(get(client, url, deep_params))
    measures = {
        "floor, page 1": lambda: get(client, floor_url),
        "list, page 1": lambda: get(client, url),
        f"floor, page {depth // 50:,}": lambda: get(client, floor_url, {"statement": "deep"}),
        f"list, page {depth // 50:,}": lambda: get(client, url, deep_params),
        "interaction page (detail)": lambda: get(client, f"{url}{detail_guid}/"),
    }
    times = {label: [] for label in measures}
    for fn in measures.values():  # warm: plans, template caches
        fn()
    before = load()
    for _ in range(rounds):
        for label, fn in measures.items():
            started = time.perf_counter()
            fn()
            times[label].append(time.perf_counter() - started)
    after = load()
    print(
        f"\nServer time (Django test client in process, {rounds} interleaved rounds), tenant acme {total:,} "
        f"interactions; {before} at start, {after} at end"
    )
    print(f"{'page':34} {'p50 ms':>9} {'p95 ms':>9}")
    for label, values in times.items():
        print(f"{label:34} {percentile(values, 50) * 1000:>9.2f} {percentile(values, 95) * 1000:>9.2f}")
    labels = list(times)
    for floor_label, page_label in ((labels[0], labels[1]), (labels[2], labels[3])):
        p50 = percentile(times[page_label], 50) / percentile(times[floor_label], 50)
        p95 = percentile(times[page_label], 95) / percentile(times[floor_label], 95)
        print(f"ratio {page_label} / floor: p50 {p50:.2f}x, p95 {p95:.2f}x (goal <= 1.5x)  {p50 <= 1.5}")

    # Statement by statement: what the page asks of the database beyond the floor's statements.
    for label, path in (("list, page 1", url), ("floor, page 1", floor_url)):
        timed = []

        def timer(execute, sql, params, many, context, timed=timed):
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                timed.append((time.perf_counter() - started, sql))

        get(client, path)
        started = time.perf_counter()
        with connection.execute_wrapper(timer):
            get(client, path)
        whole = time.perf_counter() - started
        in_sql = sum(seconds for seconds, _ in timed)
        print(f"  {label}: {whole * 1000:.2f} ms, of which {len(timed)} statements {in_sql * 1000:.2f} ms "
              "(round trip and execution, one request):")  # fmt: skip
        for seconds, sql in timed:
            print(f"    {seconds * 1000:7.2f} ms  {' '.join(sql.split())[:110]}")

    # What DB_CONN_MAX_AGE=0 costs each request: a new connection (PostgreSQL starts a backend).
    kept, fresh = [], []
    for _ in range(max(rounds // 2, 5)):
        for out, close in ((kept, False), (fresh, True)):
            if close:
                connection.close()
            started = time.perf_counter()
            get(client, url)
            out.append(time.perf_counter() - started)
    print(
        f"list, page 1 with a new database connection (DB_CONN_MAX_AGE=0) vs a kept one: p50 "
        f"{percentile(fresh, 50) * 1000:.2f} ms vs {percentile(kept, 50) * 1000:.2f} ms "
        f"({percentile(fresh, 50) / percentile(kept, 50):.2f}x; {load()})"
    )

    gclient = Client()
    gclient.force_login(User.objects.get(username="admin-globex"))
    rates = []
    for _ in range(3):
        started = time.perf_counter()
        response = gclient.get("/t/globex/interactions/export.csv")
        lines = sum(chunk.count(b"\n") for chunk in response.streaming_content) - 1
        rates.append(lines / (time.perf_counter() - started))
    print(f"CSV export, tenant globex: {lines:,} rows, {statistics.median(rates):,.0f} rows/s (median of 3; {load()})")


def main():
    n = OPTIONS.interactions
    seed(n)
    if OPTIONS.floor_only:
        floor_report(OPTIONS.rounds)
        return
    acme = Tenant.objects.get(slug="acme")
    admin = User.objects.get(username="admin-acme")
    client = Client()
    client.force_login(admin)
    url = "/t/acme/interactions/"
    total = Interaction.objects.filter(tenant=acme).count()
    depth = min(total // 2, 500_000)
    # Setup only (not timed): the keyset position of row `depth`, as the "Next page" links would give.
    deep = Interaction.objects.filter(tenant=acme).order_by("-started_at", "-id")[depth - 1]
    after = f"{deep.started_at.isoformat()}_{deep.pk}"
    rows = []

    # (a) page 1 vs deep
    def page_1():
        return get(client, url)

    def deep_page():
        return get(client, url, {"after": after})

    assert len(shown_guids(deep_page())) == 50
    first, deep_t = compare(page_1, deep_page)
    rows.append((f"(a) page 1 vs page {depth // 50:,} deep (row {depth:,})", first, deep_t, 1.2))

    # (b) view vs raw SQL of the same rows
    assert [str(r[1]) for r in raw_page(acme.pk, 51)[:50]] == shown_guids(page_1())
    rows.append(("(b) raw SQL fetch vs list view, page 1", *compare(lambda: raw_page(acme.pk, 51), page_1), 3.0))
    rows.append(
        (
            "(b) raw SQL fetch vs list view, deep page",
            *compare(lambda: raw_page(acme.pk, 51, (deep.started_at, deep.pk)), deep_page),
            3.0,
        )
    )
    rows.append(
        (
            "(b) raw SQL fetch vs list_query().page() (ORM)",
            *compare(lambda: raw_page(acme.pk, 51), lambda: list_query(admin_rows(), acme, {}).page()),
            3.0,
        )
    )

    sql, params = list_query(admin_rows(), acme, {}).queryset[:51].query.sql_with_params()

    def view_sql():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    rows.append(
        ("(b) raw SQL fetch vs the view's own SQL, executed", *compare(lambda: raw_page(acme.pk, 51), view_sql), 3.0)
    )

    # (c) tenant-filtered vs unfiltered query of the same page (ORM, rows as the view fetches them)
    def filtered():
        return list(list_query(admin_rows(), acme, {}).queryset[:51])

    def unfiltered():
        return list(with_columns(Interaction.objects.all(), acme).order_by("-started_at", "-id")[:51])

    rows.append(("(c) unfiltered vs restrict + tenant query", *compare(unfiltered, filtered), 1.5))

    # (d) statement count, page size 10 vs 100
    counts = {}
    for per_page in (10, 100):
        with CaptureQueriesContext(connection) as queries:
            get(client, url, {"per_page": per_page})
        counts[per_page] = len(queries)

    searches = []
    sample = Interaction.objects.filter(tenant=acme).order_by("-started_at", "-id")[depth]
    for label, params in (
        ("channel=sms", {"channel": "sms"}),
        ("artifact_type=voicemail", {"artifact_type": "voicemail"}),
        ("artifact_type=partial_audio_recording", {"artifact_type": "partial_audio_recording"}),
        ("locked=yes", {"locked": "yes"}),
        ("locked=no, oldest first", {"locked": "no", "sort": "started_at"}),
        ("agent=Priya Nair", {"agent": "Priya Nair"}),
        (
            "date range (one day)",
            {"started_from": str(sample.started_at.date()), "started_to": str(sample.started_at.date())},
        ),
        ("q=<guid>", {"q": str(sample.guid)}),
        ("q=<call sid>", {"q": sample.source_call_id}),
        ("q=<From, 8 chars>", {"q": sample.from_address[:8]}),
        ("q=<From, full>", {"q": sample.from_address}),
        ("q=+1 (broad prefix)", {"q": "+1"}),
        ("channel=email&q=maria", {"channel": "email", "q": "maria"}),
    ):
        seconds = median_seconds(lambda params=params: get(client, url, params), runs=5)
        shown = len(shown_guids(get(client, url, params)))
        searches.append((label, seconds, shown))

    # CSV export of the second tenant (every row), as its administrator
    gadmin = User.objects.get(username="admin-globex")
    gclient = Client()
    gclient.force_login(gadmin)

    def export():
        response = gclient.get("/t/globex/interactions/export.csv")
        lines = 0
        for chunk in response.streaming_content:
            lines += chunk.count(b"\n")
        return lines

    started = time.perf_counter()
    lines = export()
    export_s = time.perf_counter() - started
    tracemalloc.start()
    export()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    plans = {
        "page 1": explain(list_query(admin_rows(), acme, {}).queryset[:51]),
        "deep page": explain(
            list_query(admin_rows(), acme, {"after": after})
            .queryset.filter(started_at__lte=deep.started_at)
            .exclude(started_at=deep.started_at, id__gte=deep.pk)[:51]
        ),
        "q=<From, 8 chars>": explain(list_query(admin_rows(), acme, {"q": sample.from_address[:8]}).queryset[:51]),
        "q=<guid>": explain(list_query(admin_rows(), acme, {"q": str(sample.guid)}).queryset[:51]),
        "locked=yes": explain(list_query(admin_rows(), acme, {"locked": "yes"}).queryset[:51]),
    }
    report(n, total, rows, counts, searches, lines - 1, export_s, peak, plans)
    floor_report(OPTIONS.rounds)


def report(n, total, rows, counts, searches, exported, export_s, peak, plans):
    """Print the figures next to their goals."""
    acme_artifacts = Artifact.objects.filter(tenant__slug="acme").count()
    print(
        f"\nInteractions list — tenant acme: {total:,} interactions, {acme_artifacts:,} artifacts; "
        f"globex: {Interaction.objects.filter(tenant__slug='globex').count():,}; PostgreSQL, "
        f"median of {RUNS} runs, server time (Django test client, no network)"
    )
    print(f"{'measure':48} {'baseline ms':>12} {'measured ms':>12} {'ratio':>7} {'goal':>6}  ok")
    for label, base, measured, goal in rows:
        ratio = measured / base
        print(f"{label:48} {base * 1000:>12.2f} {measured * 1000:>12.2f} {ratio:>7.2f} {goal:>5.1f}x  {ratio <= goal}")
    print(f"{'(d) SQL statements, per_page=10 vs 100':48} {counts[10]:>12} {counts[100]:>12} {'':>7} {'equal':>6}  "
          f"{counts[10] == counts[100]}")  # fmt: skip
    print(f"\nfiltered pages (list view, median of 5, admin-acme, {total:,} interactions):")
    for label, seconds, shown in searches:
        print(f"  {label:44} {seconds * 1000:>9.2f} ms  {shown:>3} rows")
    print(
        f"\nCSV export, tenant globex: {exported:,} rows in {export_s:.2f} s "
        f"({exported / export_s:,.0f} rows/s); peak Python memory while streaming {peak / 1e6:.1f} MB"
    )
    print("\nquery plans (EXPLAIN ANALYZE; index scans, sequential scans, execution time):")
    for label, lines in plans.items():
        scans, seq, total_line = plan_summary(lines)
        print(f"  {label}: {total_line}")
        for line in scans:
            print(f"      {line[:150]}")
        for line in seq:
            print(f"      SEQ: {line[:150]}")


if __name__ == "__main__":
    with override_settings(
        ROOT_URLCONF="bench.floor",
        STORAGES={
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        },
    ):
        main()
