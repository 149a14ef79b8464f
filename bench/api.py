"""Benchmark of the REST API v1 (not part of the test suite).

    .venv/bin/python bench/api.py                       # 1,000,000 interactions (+ 100,000 in a 2nd tenant)
    .venv/bin/python bench/api.py --interactions 50000  # a quick run

PostgreSQL database ``holdfast_bench_api`` on 127.0.0.1 (``BENCH_PG`` / ``BENCH_DATABASE`` move it),
built and kept by bench/lists.py's database builder (``seed_demo``: acme with N interactions over 90
days, ~2.8 artifacts each, globex with N/10, a few hundred locked). Prints:

- (a) ``GET /api/v1/interactions`` (a 31-day window, oldest first) page 1 vs a page deep in the window
  by continuation token (page 10,000 at limit=30, and the same row at the default limit=100),
  server time of the view (median, Django test client) — goal <= 1.2x;
- (b) server time of the view vs a raw SQL fetch of the same rows (interactions, their artifacts
  and active locks; psycopg tuples), and where the rest goes: the SQL time inside the view and a
  profile of the view by package;
- (c) ``POST /api/v1/interactions/delete-batch`` of 1,000 GUIDs x 3 artifacts on S3 (a moto server on
  loopback): time, storage calls per 1,000 deleted keys (goal <= 1.02), SQL statements; next to the
  per-key time of single ``DELETE …/content/{id}`` calls on the same storage.
"""

import argparse
import cProfile
import importlib.util
import io
import os
import pstats
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]  # bench/api.py is not `api`
sys.path.insert(0, str(ROOT))
os.environ.setdefault("BENCH_DATABASE", "holdfast_bench_api")
os.environ.setdefault("DATA_DIR", str(Path(tempfile.gettempdir()) / "holdfast-bench-api"))

ARGS = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ARGS.add_argument("--interactions", type=int, default=1_000_000)
ARGS.add_argument("--reseed", action="store_true")
ARGS.add_argument("--batch", type=int, default=1000, help="interactions of the delete-batch (3 artifacts each)")
OPTIONS = ARGS.parse_args()

# bench/lists.py's database builder (it sets the environment up from BENCH_DATABASE and runs django.setup).
_spec = importlib.util.spec_from_file_location("bench_lists", ROOT / "bench" / "lists.py")
lists = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lists)

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Exists, OuterRef  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts import services as account_services  # noqa: E402
from accounts.actors import operator  # noqa: E402
from accounts.models import Tenant  # noqa: E402
from api.base import continuation_token, read_continuation  # noqa: E402
from api.services import create_api_client  # noqa: E402
from artifacts import storage as storage_service  # noqa: E402
from artifacts.models import Artifact  # noqa: E402
from artifacts.services import store_artifact  # noqa: E402
from core.vocabulary import PRESENT_STATES, ArtifactType, AudioRecordingType  # noqa: E402
from interactions.models import Interaction  # noqa: E402

ACTOR = operator("bench/api.py")
RUNS = 21
DEPTH_PAGES, DEEP_LIMIT = 10_000, 30
KINDS = (
    (ArtifactType.AUDIO_RECORDING, AudioRecordingType.CONFERENCE_CUSTOMER, "callRecording"),
    (ArtifactType.MESSAGING_TRANSCRIPT, "", "transcript"),
    (ArtifactType.QM_SCREEN_RECORDING, "", None),  # keyed by a unique identifier
)


def token_for(tenant, scopes):
    """An API client of ``tenant`` and a bearer token from the real token endpoint."""
    import base64

    client, secret = create_api_client(tenant.pk, ACTOR, name=f"bench {uuid.uuid4().hex[:8]}", scopes=scopes)
    basic = base64.b64encode(f"{client.client_id}:{secret}".encode()).decode()
    response = Client().post(
        "/api/oauth/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {basic}"
    )
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


def iso(moment):
    return moment.isoformat().replace("+00:00", "Z")


# --- (a) and (b): GET interactions ------------------------------------------------------------------


def window(acme):
    """The last 31 days of acme's interactions: [end - 31 days, end)."""
    import datetime as dt

    latest = Interaction.objects.filter(tenant=acme).order_by("-started_at").values_list("started_at", flat=True)[0]
    end = latest + dt.timedelta(seconds=1)
    return end - dt.timedelta(days=31), end


def rows_in(acme, start, end):
    present = Artifact.objects.filter(interaction_id=OuterRef("pk"), state__in=PRESENT_STATES)
    return Interaction.objects.filter(tenant=acme, started_at__gte=start, started_at__lt=end).filter(Exists(present))


RAW_PAGE = """
    SELECT i.id, i.guid, i.channel, i.direction, i.origin, i.started_at, i.ended_at, i.duration_seconds,
           i.from_address, i.to_address, i.agent_id, i.agent_name, i.source_system, i.source_call_id,
           i.source_task_id, i.metadata
    FROM interactions_interaction i
    WHERE i.tenant_id = %s AND i.started_at >= %s AND i.started_at < %s {keyset}
      AND EXISTS (SELECT 1 FROM artifacts_artifact a
                  WHERE a.interaction_id = i.id AND a.state IN ('stored', 'archived'))
    ORDER BY i.started_at, i.id LIMIT %s"""
RAW_ARTIFACTS = """
    SELECT a.id, a.interaction_id, a.content_key, a.artifact_type, a.audio_recording_type, a.content_type, a.size,
           a.created_at, a.archived_at, a.sha256, a.state
    FROM artifacts_artifact a WHERE a.interaction_id = ANY(%s) ORDER BY a.interaction_id, a.created_at, a.id"""
RAW_LOCKS = """
    SELECT l.id, l.interaction_id, l.artifact_type, l.audio_recording_type, l.expires_at, l.request_id
    FROM artifacts_lock l WHERE l.interaction_id = ANY(%s) AND l.released_at IS NULL
      AND (l.expires_at IS NULL OR l.expires_at > now()) ORDER BY l.id"""


def raw_page(tenant_id, start, end, limit, after=None):
    """The page's interactions, their artifacts and active locks in hand-written SQL (tuples)."""
    keyset = "AND (i.started_at, i.id) > (%s, %s)" if after else ""
    with connection.cursor() as cursor:
        cursor.execute(RAW_PAGE.format(keyset=keyset), [tenant_id, start, end, *(after or ()), limit + 1])
        page = cursor.fetchall()
        ids = [row[0] for row in page[:limit]]
        cursor.execute(RAW_ARTIFACTS, [ids])
        artifacts = cursor.fetchall()
        cursor.execute(RAW_LOCKS, [ids])
        return page, artifacts, cursor.fetchall()


def package_of(filename):
    """A profile entry's package, for the "where the time goes" summary."""
    path = filename.replace("\\", "/")
    for marker, label in (
        ("/psycopg", "psycopg (driver, incl. waiting on PostgreSQL)"),
        ("/django/db/", "django.db (ORM: query building, rows to objects)"),
        ("/rest_framework/", "rest_framework (views, rendering JSON)"),
        ("/oauth2_provider/", "oauth2_provider (token lookup)"),
        ("/django/", "django (request, middleware, other)"),
        ("/json/", "json (encoding)"),
        ("/api/", "holdfast api/ (building the dicts)"),
        ("/policies/", "holdfast policies/ (retention dates query)"),
        (str(ROOT), "holdfast (other)"),
    ):
        if marker in path:
            return label
    return "other (stdlib, builtins)"


def profile_view(get, runs=20):
    """Per-package share of the view's own time (cProfile tottime), over ``runs`` calls."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(runs):
        get()
    profiler.disable()
    stats = pstats.Stats(profiler)
    shares = defaultdict(float)
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():
        shares[package_of(filename)] += tottime
    total = sum(shares.values())
    return sorted(((label, seconds / total) for label, seconds in shares.items()), key=lambda x: -x[1])


def interactions_figures(acme, token):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    start, end = window(acme)
    in_window = rows_in(acme, start, end)
    total = in_window.count()
    depth = min(DEPTH_PAGES * DEEP_LIMIT, total - 101)
    deep_row = in_window.order_by("started_at", "id")[depth - 1]  # setup only: the position a token would hold
    params = {"start": iso(start), "end": iso(end)}

    def get(extra):
        response = client.get("/api/v1/interactions", {**params, **extra})
        assert response.status_code == 200, response.content[:300]
        return response

    def deep_token(limit):
        position = read_continuation(get({"limit": str(limit)}).json()["meta"]["nextContinuationToken"])
        position["after"] = [deep_row.started_at.isoformat(), deep_row.pk]
        return continuation_token(position)

    rows, sql = [], {}
    for limit in (DEEP_LIMIT, 100):
        token = deep_token(limit)
        page = get({"limit": str(limit), "continuationToken": token}).json()["interactions"]
        assert len(page) == limit and page[0]["guid"] != str(deep_row.guid)
        first, deep = lists.compare(
            lambda limit=limit: get({"limit": str(limit)}),
            lambda limit=limit, token=token: get({"limit": str(limit), "continuationToken": token}),
        )
        rows.append((f"(a) page 1 vs page {depth // limit + 1:,} deep, limit={limit}", first, deep, 1.2))

    # (b) the view vs the raw SQL of the same rows; then where the rest of the view's time goes
    for label, after, extra in (
        ("page 1", None, {}),
        ("deep page", (deep_row.started_at, deep_row.pk), {"continuationToken": deep_token(100)}),
    ):
        raw = raw_page(acme.pk, start, end, 100, after)
        shown = [item["guid"] for item in get({"limit": "100", **extra}).json()["interactions"]]
        assert [str(r[1]) for r in raw[0][:100]] == shown, "the raw SQL fetches the same rows"
        raw_s, view_s = lists.compare(
            lambda after=after: raw_page(acme.pk, start, end, 100, after),
            lambda extra=extra: get({"limit": "100", **extra}),
        )
        rows.append((f"(b) raw SQL fetch vs the view, limit=100, {label}", raw_s, view_s, None))
    with CaptureQueriesContext(connection) as queries:
        get({"limit": "100"})
    sql["statements"] = len(queries)
    sql["seconds"] = sum(float(q["time"]) for q in queries.captured_queries)
    sql["view"] = lists.median_seconds(lambda: get({"limit": "100"}))
    shares = profile_view(lambda: get({"limit": "100"}))
    return total, rows, sql, shares


# --- (c) delete-batch on S3 -------------------------------------------------------------------------


def s3_storages(endpoint):
    import boto3

    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="bench", aws_secret_access_key="bench", region_name="us-east-1"
    ).create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    options = {
        "bucket_name": bucket,
        "endpoint_url": endpoint,
        "access_key": "bench",
        "secret_key": "bench",
        "region_name": "us-east-1",
        "default_acl": None,
        "file_overwrite": True,
    }
    s3 = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}
    return {**settings.STORAGES, "active": s3, "archive": {**s3, "OPTIONS": {**options, "location": "archive"}}}


def build_tenant(n):
    """A new tenant with ``n`` interactions x 3 artifacts (512 bytes each) in the active storage."""
    slug = f"bench-api-{uuid.uuid4().hex[:8]}"
    tenant = account_services.create_tenant(slug, slug, actor=ACTOR)
    calls = Interaction.objects.bulk_create(
        Interaction(tenant=tenant, channel="voice", direction="inbound", started_at=timezone.now()) for _ in range(n)
    )
    for call in calls:
        for artifact_type, audio, key in KINDS:
            store_artifact(
                call.pk,
                actor=ACTOR,
                artifact_type=artifact_type,
                audio_recording_type=audio,
                content_key=key or str(uuid.uuid4()),
                filename="a.bin",
                stream=io.BytesIO(os.urandom(512)),
            )
    return tenant, calls


def delete_batch_figures(n):
    from tests.loopback import start_moto

    server, endpoint = start_moto()
    try:
        with override_settings(STORAGES=s3_storages(endpoint)):
            print(f"building {n:,} + 50 interactions x 3 artifacts on S3 (moto) …", flush=True)
            tenant, calls = build_tenant(n)
            single_tenant, _ = build_tenant(50)
            client = Client(HTTP_AUTHORIZATION=f"Bearer {token_for(tenant, ['interaction-content:delete'])}")
            storage_service.calls.clear()
            statements = []  # an execute wrapper survives the connection the inline job closes and reopens
            with connection.execute_wrapper(lambda execute, *args: statements.append(1) or execute(*args)):
                started = time.perf_counter()
                response = client.post(
                    "/api/v1/interactions/delete-batch",
                    {"guids": [str(c.guid) for c in calls]},
                    content_type="application/json",
                )
                batch_s = time.perf_counter() - started
            assert response.status_code == 200 and response.json()["failures"] == [], response.content[:300]
            deleted = Artifact.objects.filter(tenant=tenant, state="deleted").count()
            assert deleted == 3 * n, deleted
            delete_calls = storage_service.calls["delete"]
            calls_by_kind = dict(storage_service.calls)

            single = Client(HTTP_AUTHORIZATION=f"Bearer {token_for(single_tenant, ['interaction-content:delete'])}")
            ids = list(Artifact.objects.filter(tenant=single_tenant).values_list("interaction__guid", "pk"))
            started = time.perf_counter()
            for guid, pk in ids:
                answer = single.delete(f"/api/v1/interactions/{guid}/content/{pk}")
                assert answer.status_code == 204, answer.content
            single_s = (time.perf_counter() - started) / len(ids)
    finally:
        server.terminate()
        server.wait(10)
    return {
        "seconds": batch_s,
        "deleted": deleted,
        "delete_calls": delete_calls,
        "calls": calls_by_kind,
        "statements": len(statements),
        "single_per_key": single_s,
    }


def main():
    lists.ensure_database(OPTIONS.reseed)
    lists.seed(OPTIONS.interactions)
    acme = Tenant.objects.get(slug="acme")
    token = token_for(acme, ["interaction-content:read"])
    total, rows, sql, shares = interactions_figures(acme, token)
    batch = delete_batch_figures(OPTIONS.batch)
    report(acme, total, rows, sql, shares, batch)


def report(acme, total, rows, sql, shares, batch):
    """Print the figures next to their goals."""
    print(
        f"\nREST API v1 — tenant acme: {Interaction.objects.filter(tenant=acme).count():,} interactions "
        f"({total:,} with content in the 31-day window); PostgreSQL; median of {RUNS} runs, server time "
        f"(Django test client, no network); bearer token; rate limits counted in "
        f"{settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]}"
    )
    print(f"{'measure':58} {'baseline ms':>12} {'measured ms':>12} {'ratio':>7} {'goal':>6}  ok")
    for label, base, measured, goal in rows:
        ratio = measured / base
        ok = "" if goal is None else str(ratio <= goal)
        goal_text = "-" if goal is None else f"{goal:.1f}x"
        print(f"{label:58} {base * 1000:>12.2f} {measured * 1000:>12.2f} {ratio:>7.2f} {goal_text:>6}  {ok}")
    print(
        f"\n(b) where the view's time goes, page 1, limit=100: {sql['view'] * 1000:.1f} ms in all; "
        f"{sql['statements']} SQL statements taking {sql['seconds'] * 1000:.1f} ms (as PostgreSQL + driver report it)"
    )
    print("    profile of the view by package (cProfile own time, 20 calls; profiling inflates Python's share):")
    for label, share in shares[:9]:
        print(f"      {share * 100:5.1f}%  {label}")
    per_1000 = batch["delete_calls"] / (batch["deleted"] / 1000)
    per_key = batch["seconds"] / batch["deleted"]
    print(
        f"\n(c) POST delete-batch, {batch['deleted'] // 3:,} GUIDs x 3 artifacts on S3 (moto, loopback): "
        f"{batch['seconds']:.2f} s ({per_key * 1000:.2f} ms per key; single DELETE "
        f"calls: {batch['single_per_key'] * 1000:.2f} ms per key, {batch['single_per_key'] / per_key:.1f}x slower); "
        f"{batch['statements']} SQL statements"
    )
    print(
        f"    storage delete calls: {batch['delete_calls']} for {batch['deleted']:,} keys = {per_1000:.2f} per 1,000 "
        f"keys (goal <= 1.02: {per_1000 <= 1.02}); all storage calls: {batch['calls']}"
    )


if __name__ == "__main__":
    with override_settings(
        API_RATE_LIMIT="1000000/min",
        API_TENANT_RATE_LIMIT="1000000/min",
        API_BATCH_WAIT=600.0,
        STORAGES={
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        },
    ):
        main()
