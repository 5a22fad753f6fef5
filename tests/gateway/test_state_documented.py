"""The gateway keeps per-process state only in the modules gateway/state.py lists, each of
which says so in its own docstring ("State: …"): a new cache or global elsewhere fails here,
so the list a newcomer reads (and the resets tests rely on) stays whole."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import gateway.state

GATEWAY = Path(gateway.state.__file__).resolve().parent
# Constructors of containers and counters that a module would mutate in place.
MUTABLE_CALLS = {
    "dict",
    "set",
    "list",
    "OrderedDict",
    "defaultdict",
    "deque",
    "WeakSet",
    "WeakKeyDictionary",
    "WeakValueDictionary",
    "count",
    "Random",
}
# Names Django reads once at start-up.
NOT_STATE = {"urlpatterns", "app_name"}
# A paragraph of the module's docstring that starts "State" ("State:", "State, per loop:").
SAYS_STATE = re.compile(r"(^|\n)State\b")


def _call_name(node: ast.expr) -> str | None:
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)


def _holds_state(tree: ast.Module) -> list[str]:
    """Module-level names bound to something mutable, and names rebound with ``global``.
    UPPER_CASE names are constants by convention (tables, Prometheus metrics, settings)."""
    found = []
    for node in tree.body:
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        mutable = isinstance(value, ast.Dict | ast.Set | ast.List | ast.DictComp | ast.SetComp)
        name = _call_name(value)
        mutable = mutable or name in MUTABLE_CALLS or bool(name and name.endswith("State"))
        found.extend(
            target.id
            for target in targets
            if mutable
            and isinstance(target, ast.Name)
            and target.id not in NOT_STATE
            and not target.id.isupper()
            and not target.id.startswith("__")
        )
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            found.extend(node.names)
    return found


def _modules() -> dict[str, ast.Module]:
    return {
        path.relative_to(GATEWAY.parent).as_posix(): ast.parse(path.read_text())
        for path in sorted(GATEWAY.rglob("*.py"))
        if "emulator" not in path.parts and "migrations" not in path.parts
    }


def test_the_scan_finds_the_state_it_is_meant_to_find():
    # A scan that finds nothing would pass everything below.
    holders = {name: _holds_state(tree) for name, tree in _modules().items()}
    assert "_circuits" in holders["gateway/circuit.py"]
    assert "_rotation" in holders["gateway/routing.py"]
    assert _holds_state(ast.parse("x = {}\nY = {}\ndef f():\n    global z\n")) == ["x", "z"]


def test_every_module_holding_state_is_listed_and_says_so():
    listed = ast.get_docstring(ast.parse(Path(gateway.state.__file__).read_text())) or ""
    unlisted, unsaid = [], []
    for name, tree in _modules().items():
        if name == "gateway/state.py" or not _holds_state(tree):
            continue
        if name not in listed:
            unlisted.append(name)
        if not SAYS_STATE.search(ast.get_docstring(tree) or ""):
            unsaid.append(name)
    assert unlisted == []
    assert unsaid == []
