"""Query expressions whose Python cost would otherwise exceed their statement's own: two for
set-based writes over thousands of ids (Django expands ``id__in=[...]`` into one placeholder per id, which
it builds, and psycopg then splits, one by one; a ``Case`` of one ``When`` per row costs more still).

- :class:`AnyOf`: ``column = ANY(%s)``, the ids sent as one array parameter (PostgreSQL), and
  ``column IN (...)`` elsewhere (SQLite in development).
- :class:`LookUp`: the value of a column's row in a Python mapping, sent as one JSON parameter.
- :class:`CompiledExpression`: an expression compiled to SQL once, its variable values bound per use
  (the columns pages add to every row: Django would compile their subqueries on every request).
"""

import json
from datetime import UTC, datetime

from django.core.exceptions import EmptyResultSet
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import BooleanField, F, Func, IntegerField, Value
from django.db.models.expressions import RawSQL


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


#: Stand-ins for "the current time" when an expression is compiled (:class:`CompiledExpression`).
NOW_STAND_INS = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2001, 1, 1, tzinfo=UTC))


def _adapt_datetime(connection, value):
    return connection.ops.adapt_datetimefield_value(value)


class CompiledExpression:
    """An expression that pages build on every request, compiled to SQL once per database and
    used as ``RawSQL`` afterwards, with only its variable values bound each time.

    Django resolves and compiles a subquery expression (``Exists``, ``Subquery``) anew on each
    ``annotate()``: for the interactions list's columns that was a tenth of the page's server time,
    for SQL that never changes. ``build(**values)`` makes the expression for ``model``'s queries;
    ``stand_ins`` gives each variable two different values: compiling with each tells which
    parameters are that variable's (and checks that the SQL text does not depend on it). A
    variable named ``now`` takes datetimes (:data:`NOW_STAND_INS`).

    The SQL names ``model``'s table: use it on querysets of that model whose base table is not
    aliased (not inside another query as a subquery).
    """

    def __init__(self, build, model, output_field, **stand_ins):
        self.build, self.model, self.output_field, self.stand_ins = build, model, output_field, stand_ins
        self._compiled = {}

    def _compile(self, using, values):
        query = self.model._default_manager.annotate(_compiled=self.build(**values)).query
        return query.get_compiler(using=using).compile(query.annotations["_compiled"])

    def _compiled_for(self, using):
        if using not in self._compiled:
            first = {name: pair[0] for name, pair in self.stand_ins.items()}
            sql, params = self._compile(using, first)
            slots = {}
            for name, (_, other) in self.stand_ins.items():
                sql_b, params_b = self._compile(using, {**first, name: other})
                if sql_b != sql or len(params_b) != len(params):
                    raise ValueError(f"the SQL of {self.build} depends on {name}: it cannot be compiled once")
                slots.update({i: name for i, (a, b) in enumerate(zip(params, params_b, strict=True)) if a != b})
            self._compiled[using] = (sql, tuple(params), slots)
        return self._compiled[using]

    def __call__(self, using=DEFAULT_DB_ALIAS, **values):
        """The expression for ``values`` (every variable of ``stand_ins``) as ``RawSQL``."""
        sql, params, slots = self._compiled_for(using)
        if slots:
            connection = connections[using]
            bound = {
                name: _adapt_datetime(connection, value) if name == "now" else value for name, value in values.items()
            }
            params = [bound[slots[i]] if i in slots else p for i, p in enumerate(params)]
        return RawSQL(sql, params, output_field=self.output_field)
