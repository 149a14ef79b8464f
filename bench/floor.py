"""The framework's floor for the interactions list (bench/lists.py, bench only; no product code).

A minimal Django view behind the same middleware stack (sessions, authentication, CSRF, messages,
security headers, the tenant pages' ``Cache-Control``) that renders the same rows as the list page
from one raw SQL statement with a plain template: no tenant lookup, no grants, no forms, no ORM,
no filters per cell, no base layout. The statement is the list view's own page statement, captured
once (:func:`set_statement`), so the floor pays exactly the database time the page pays and the
ratio page / floor is what Django's ORM, forms, templates and the product's checks add on top.

Used as ``ROOT_URLCONF`` (``bench.floor``): the product's URLs plus ``/t/<slug>/interactions-floor/``.
"""

from django.db import connection
from django.http import HttpResponse, HttpResponseForbidden
from django.template import engines
from django.urls import path

from config.urls import urlpatterns as product_urlpatterns

#: ``{"page": sql, …}``: the view's page statements (parameters already bound), by name.
STATEMENTS = {}

TEMPLATE = engines["django"].from_string(
    """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Interactions</title></head><body>
<table><thead><tr><th>Start time</th><th>Interaction</th><th>Channel</th><th>Direction</th><th>From</th><th>To</th>
<th>Agent</th><th>Duration</th><th>Artifacts</th><th>Lock</th><th>Deletion date</th></tr></thead><tbody>
{% for r in rows %}<tr data-guid="{{ r.guid }}"><td><a href="{{ r.guid }}/">{{ r.started_at }}</a></td>
<td>{{ r.guid }}</td>
<td>{{ r.channel }}</td><td>{{ r.direction }}</td><td>{{ r.from_address }}</td><td>{{ r.to_address }}</td>
<td>{{ r.agent_name }}</td><td>{{ r.duration_seconds }} s</td><td>{{ r.artifact_mask }}</td><td>{{ r.is_locked }}</td>
<td>{{ r.earliest_deletion }}</td></tr>
{% endfor %}</tbody></table></body></html>"""
)


def set_statement(name, sql):
    """Remember the list view's page statement ``sql`` (parameters bound) under ``name``."""
    STATEMENTS[name] = sql


def floor(request, tenant_slug):
    """The floor page: signed in (session + user, as every page), one statement, a plain template."""
    if not request.user.is_authenticated:
        return HttpResponseForbidden()
    with connection.cursor() as cursor:
        cursor.execute(STATEMENTS[request.GET.get("statement", "page")])
        names = [column.name for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchmany(50)]
    return HttpResponse(TEMPLATE.render({"rows": rows}))


urlpatterns = [path("t/<slug:tenant_slug>/interactions-floor/", floor), *product_urlpatterns]
