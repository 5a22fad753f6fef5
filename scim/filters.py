"""A SCIM filter (RFC 7644 §3.4.2.2), parsed by scim2-models, as a Django query.

Each resource names the attributes it can be filtered on and the column each one is; an
attribute outside that list is an ``invalidFilter`` error rather than a silent match of
nothing, so an identity provider looking a person up never takes "no answer" for "absent".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from scim2_models import InvalidFilterException, ScimFilter
from scim2_models.path import (
    AttrPath,
    CompareOperator,
    Comparison,
    FilterVisitor,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
)


@dataclass(frozen=True)
class Column:
    """Where an attribute lives: a lookup path, whether comparing is case-exact, and for a
    number or a boolean the type its value must have."""

    field: str
    case_exact: bool = False
    kind: type = str


_LOOKUPS = {
    CompareOperator.eq: "exact",
    CompareOperator.co: "contains",
    CompareOperator.sw: "startswith",
    CompareOperator.ew: "endswith",
}
_ORDERING = {
    CompareOperator.gt: "gt",
    CompareOperator.ge: "gte",
    CompareOperator.lt: "lt",
    CompareOperator.le: "lte",
}


class _ToQuery(FilterVisitor[Q]):
    def __init__(self, columns: dict[str, Column]):
        self.columns = columns

    def _column(self, path: AttrPath, *, parent: str | None = None) -> Column:
        names = [parent, path.attr, path.sub_attr] if parent else [path.attr, path.sub_attr]
        key = ".".join(n for n in names if n).lower()
        column = self.columns.get(key)
        if column is None:
            raise InvalidFilterException(detail=f"Filtering on {key!r} is not supported.")
        return column

    def _compare(self, column: Column, op: CompareOperator, value: Any) -> Q:
        if column.kind is bool:
            if not isinstance(value, bool) or op not in {CompareOperator.eq, CompareOperator.ne}:
                raise InvalidFilterException(detail="A boolean compares with eq or ne only.")
            return (
                Q(**{column.field: value})
                if op == CompareOperator.eq
                else ~Q(**{column.field: value})
            )
        if column.kind is int:
            # Ids are numbers here: any other value matches no resource.
            if not isinstance(value, (str, int)) or not str(value).isdigit():
                return Q(pk__in=[])
            value = int(value)
        elif not isinstance(value, str):
            raise InvalidFilterException(detail="This attribute compares with a string.")
        if op == CompareOperator.ne:
            return ~self._compare(column, CompareOperator.eq, value)
        if op in _ORDERING:
            return Q(**{f"{column.field}__{_ORDERING[op]}": value})
        lookup = _LOOKUPS[op]
        if not column.case_exact and column.kind is str:
            lookup = "i" + lookup
        return Q(**{f"{column.field}__{lookup}": value})

    def visit_comparison(self, node: Comparison) -> Q:
        return self._compare(self._column(node.attr_path), node.op, node.value)

    def visit_present(self, node: Present) -> Q:
        column = self._column(node.attr_path)
        present = Q(**{f"{column.field}__isnull": False})
        return present & ~Q(**{column.field: ""}) if column.kind is str else present

    def visit_not(self, node: Not) -> Q:
        return ~self.visit(node.expr)

    def visit_logical_expr(self, node: LogicalExpr) -> Q:
        terms = [self.visit(term) for term in node.terms]
        combined = terms[0]
        for term in terms[1:]:
            combined = combined & term if node.op == LogicalOperator.and_ else combined | term
        return combined

    def visit_value_path(self, node: ValuePath) -> Q:
        # emails[value eq "x"], members[value eq "42"]: the inner attributes are named under
        # the outer one (emails.value), which is how the columns list them.
        return _ToQuery(
            {
                key.split(".", 1)[1]: column
                for key, column in self.columns.items()
                if key.startswith(node.attr_path.attr.lower() + ".")
            }
        ).visit(node.val_filter)


def filter_query(*, expression: str, columns: dict[str, Column]) -> Q:
    """The query for ``expression`` over ``columns``; raises InvalidFilterException for a
    filter that does not parse or names an attribute the resource cannot be filtered on."""
    try:
        tree = ScimFilter(expression).ast
    except InvalidFilterException:
        raise
    except Exception as exc:  # the parser's own syntax errors
        raise InvalidFilterException(detail=str(exc)) from exc
    return _ToQuery(columns).visit(tree)
