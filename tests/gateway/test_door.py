"""The gateway's door (gateway/__init__.py) and the layers inside it: the door imports nothing
until a name is asked for, hands out each module's own objects, and no gateway module imports
one that imports it back."""

from __future__ import annotations

import ast
import subprocess
import sys
from importlib import import_module

import grimp

import gateway
from tests.conftest import ROOT


def test_importing_the_door_imports_no_gateway_module():
    # Django imports the package before its app registry is ready: models must not load.
    probe = "import sys, gateway; print(sorted(m for m in sys.modules if m.startswith('gateway.')))"
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_every_name_of_the_door_is_its_module_s_own_object():
    for name, module in gateway._EXPORTS.items():
        assert getattr(gateway, name) is getattr(import_module(module), name), name
    assert sorted(gateway.__all__) == sorted(gateway._EXPORTS)


def test_the_type_checkers_see_the_names_the_door_hands_out():
    tree = ast.parse((ROOT / "gateway" / "__init__.py").read_text())
    [block] = [
        node
        for node in tree.body
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
    ]
    seen = {
        alias.name: node.module
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert seen == gateway._EXPORTS


def test_an_unknown_name_is_an_attribute_error_and_submodules_still_import():
    try:
        gateway.no_such_name  # noqa: B018
    except AttributeError:
        pass
    else:
        raise AssertionError("an unknown name must raise AttributeError")
    from gateway import metrics

    assert metrics.REGISTRY is not None


def test_no_gateway_module_imports_one_that_imports_it_back():
    # Function-level imports count; imports for type checkers only do not.
    graph = grimp.build_graph(
        "gateway",
        "accounts",
        "chat",
        "datasets",
        "common",
        "aiportal",
        cache_dir=None,
        exclude_type_checking_imports=True,
    )
    back = [
        (module, imported, graph.find_shortest_chain(importer=imported, imported=module))
        for module in sorted(graph.modules)
        if module.startswith("gateway") and not module.startswith("gateway.emulator")
        for imported in graph.find_modules_directly_imported_by(module)
        if graph.chain_exists(importer=imported, imported=module)
    ]
    assert back == []
