"""Benchmark of Configuration > Legal Holds' counts (not part of the test suite).

    .venv/bin/python bench/matters.py [--interactions 20000] [--matters 50] [--held 20] [--runs 5]

Uses its own PostgreSQL database (``holdfast_bench_matters`` on 127.0.0.1, recreated each run) and
temporary file storage; seeds tenant acme with ``seed_demo --interactions N`` (bulk loading), then
opens ``--matters`` matters holding ``--held`` interactions each (an Add Lock for *Any* per matter,
through ``add_locks``). Prints, in the same run, the median time of the list page's statement (a
page of 50 matters with ``Matter.objects.with_counts()``, one statement) against the same counts by
one aggregate statement per matter (the N + 1 baseline), their ratio and statement counts.
"""

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))
BENCH_DB = os.environ.get("BENCH_DATABASE", "holdfast_bench_matters")
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
os.environ["DATABASE_URL"] = f"{PG}/{BENCH_DB}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
os.environ.pop("REDIS_URL", None)
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="holdfast-bench-matters-")
os.environ["DEBUG"] = "true"


def recreate_database():
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactions", type=int, default=20_000)
    parser.add_argument("--matters", type=int, default=50)
    parser.add_argument("--held", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    recreate_database()
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count, Exists, OuterRef, Sum
    from django.db.models.functions import Coalesce
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    print(f"seeding {args.interactions:,} interactions …", flush=True)
    call_command("seed_demo", interactions=args.interactions, tenant="acme", verbosity=0)

    from accounts.actors import operator
    from accounts.models import Tenant, User
    from artifacts import matter_services, services
    from artifacts.models import Artifact, Lock, Matter
    from core.vocabulary import ANY, PRESENT_STATES
    from interactions.models import Interaction

    actor = operator("bench")
    tenant = Tenant.objects.get(slug="acme")
    owner = User.objects.get(username="compliance-acme")
    tenant.locked_interactions_limit = args.matters * args.held + 1000
    tenant.save(update_fields=["locked_interactions_limit"])
    ids = list(Interaction.objects.filter(tenant=tenant).order_by("id").values_list("id", flat=True))
    for n in range(args.matters):
        matter = matter_services.create_matter(
            tenant.pk, actor, case_id=f"CASE-{n}", name=f"Matter {n}", reason="bench", owner_id=owner.pk
        )
        held = ids[n * args.held : (n + 1) * args.held]
        services.add_locks(tenant.pk, held, actor, selection=ANY, matter_id=matter.pk)
    artifacts = Artifact.objects.filter(tenant=tenant).count()
    print(f"{artifacts:,} artifacts, {Lock.objects.count():,} locks, {args.matters} matters", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    def per_matter(rows, now):
        """The baseline: the same counts by one aggregate statement per matter (N + 1 statements)."""
        found = []
        for matter in rows[:50]:
            covered = Exists(
                Lock.objects.active(now).filter(
                    matter_id=matter.pk,
                    interaction_id=OuterRef("interaction_id"),
                    artifact_type=OuterRef("artifact_type"),
                    audio_recording_type=OuterRef("audio_recording_type"),
                )
            )
            sums = Artifact.objects.filter(tenant=tenant, state__in=PRESENT_STATES).filter(covered)
            sums = sums.aggregate(n=Count("id"), b=Coalesce(Sum("size"), 0))
            found.append((matter.pk, sums["n"], sums["b"]))
        return found

    def page(kind):
        now = timezone.now()
        rows = Matter.objects.filter(tenant=tenant).order_by("-status", "-created_at", "-id")
        if kind == "loop":
            return per_matter(rows, now)
        return [(m.pk, m.held_artifacts, m.held_bytes) for m in rows.with_counts(now)[:50]]

    assert page("page") == page("loop"), "both count the same"
    times, statements = {"page": [], "loop": []}, {}
    for _ in range(args.runs):
        for kind in ("page", "loop"):
            start = time.perf_counter()
            page(kind)
            times[kind].append(time.perf_counter() - start)
    for kind in ("page", "loop"):
        seen = []

        def count(execute, sql, *rest, seen=seen):
            seen.append(sql)
            return execute(sql, *rest)

        with connection.execute_wrapper(count):
            page(kind)
        statements[kind] = len(seen)
    page_ms, loop_ms = (statistics.median(times[k]) * 1000 for k in ("page", "loop"))
    print(f"legal-holds page (50 matters with counts, one statement): {page_ms:.1f} ms median of {args.runs}")
    print(f"baseline, one aggregate per matter ({statements['loop']} statements): {loop_ms:.1f} ms")
    print(f"ratio page / baseline: {page_ms / loop_ms:.2f}x; statements: {statements['page']} vs {statements['loop']}")


if __name__ == "__main__":
    main()
