"""Two query expressions for set-based writes over thousands of ids, whose Python cost otherwise
exceeds the statement's own (Django expands ``id__in=[...]`` into one placeholder per id, which
it builds, and psycopg then splits, one by one; a ``Case`` of one ``When`` per row costs more still).

- :class:`AnyOf`: ``column = ANY(%s)``, the ids sent as one array parameter (PostgreSQL), and
  ``column IN (...)`` elsewhere (SQLite in development).
- :class:`LookUp`: the value of a column's row in a Python mapping, sent as one JSON parameter.
"""

import json

from django.core.exceptions import EmptyResultSet
from django.db.models import BooleanField, F, Func, IntegerField, Value


class AnyOf(Func):
    """``column`` is one of ``ids``: a boolean expression for ``filter()``, e.g.
    ``Lock.objects.filter(AnyOf("id", ids))``. With no ids the query is empty without asking the
    database (``EmptyResultSet``, as ``id__in=[]``)."""

    output_field = BooleanField()

    def __init__(self, column, ids):
        self.ids = [int(pk) for pk in ids]
        super().__init__(F(column))

    def as_sql(self, compiler, connection, **extra_context):
        column, params = compiler.compile(self.get_source_expressions()[0])
        if not self.ids:
            raise EmptyResultSet
        if connection.vendor == "postgresql":
            # The array's text form: one string to quote (psycopg's list dumper visits every id).
            return f"{column} = ANY(%s::bigint[])", [*params, "{" + ",".join(map(str, self.ids)) + "}"]
        return f"{column} IN ({', '.join(['%s'] * len(self.ids))})", [*params, *self.ids]


class LookUp(Func):
    """``mapping[<column of the row>]``, or ``default`` for a row it lacks: e.g. a count per
    interaction, counted in Python, written by an ``INSERT ... SELECT`` over the interactions."""

    output_field = IntegerField()

    def __init__(self, mapping, column="pk", default=0):
        self.default = int(default)
        payload = json.dumps({str(key): int(value) for key, value in mapping.items()})
        super().__init__(Value(payload), F(column))

    def as_sql(self, compiler, connection, **extra_context):
        (payload, payload_params), (column, column_params) = (
            compiler.compile(expression) for expression in self.get_source_expressions()
        )
        if connection.vendor == "postgresql":
            sql = f"COALESCE((CAST({payload} AS jsonb) ->> CAST({column} AS text))::integer, {self.default})"
        else:
            sql = f"COALESCE(json_extract({payload}, '$.\"' || {column} || '\"'), {self.default})"
        return sql, [*payload_params, *column_params]
