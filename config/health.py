"""``/healthz``: is the database, Redis and storage usable? JSON, 200 when all are, 503 otherwise."""

import logging

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Count
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

log = logging.getLogger(__name__)


def _check_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"ok": True, "vendor": connection.vendor}


def _check_redis():
    if settings.JOBS_INLINE:
        return {"ok": True, "detail": "not configured: jobs run inline"}
    import redis

    redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2).ping()
    return {"ok": True}


def _check_storage():
    # With S3_OBJECT_LOCK, a bucket without versioning or Object Lock is unusable too: a hold set
    # there fails ("Bucket is missing ObjectLockConfiguration") while everything else works.
    from accounts.models import Tenant
    from artifacts.storage import check_regions, check_storages
    from core.regions import region_names

    # A tenant in a region the deployment no longer configures cannot reach its content. (A database
    # that does not answer is the database check's finding, not the storage's.)
    try:
        stranded = dict(
            Tenant.objects.exclude(storage_region__in=region_names())
            .values_list("storage_region")
            .annotate(n=Count("pk"))
            .order_by("storage_region")
        )
    except DatabaseError:
        stranded = {}
    problem = {}
    if stranded:
        problem = {
            "ok": False,
            "error": "Tenants in storage regions STORAGE_REGIONS does not configure: "
            + ", ".join(f"{region or '(none)'}: {n}" for region, n in stranded.items()),
        }
    if not settings.STORAGE_REGIONS:
        return {"ok": True, **check_storages(), **problem}
    regions = check_regions()
    return {"ok": all(report["ok"] for report in regions.values()), "regions": regions, **problem}


CHECKS = {"database": _check_database, "redis": _check_redis, "storage": _check_storage}


@never_cache
@require_GET
def healthz(request):
    """Report each dependency; a failing one is named with the error class, never a stack trace."""
    report = {}
    for name, check in CHECKS.items():
        try:
            report[name] = check()
        except Exception as exc:  # a health check must report, never raise
            log.warning("health check %s failed: %s", name, exc)
            report[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    healthy = all(part["ok"] for part in report.values())
    return JsonResponse({"status": "ok" if healthy else "unavailable", **report}, status=200 if healthy else 503)
