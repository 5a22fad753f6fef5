"""The import-linter contracts and mypy's strict modules (pyproject.toml) catch what they are
there for: a wrong import added to a copy of the project's packages breaks the contract that
forbids it, by name, and the real tree keeps every contract.

Each check runs the real tools, as ``./dev test`` does, in a scratch directory: lint-imports
finds the packages in its working directory before the installed (editable) project."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
BIN = Path(sys.executable).parent
PACKAGES = (
    "aiportal",
    "retention",
    "chat",
    "assistants",
    "prompts",
    "tools",
    "datasets",
    "gateway",
    "scim",
    "accounts",
    "common",
)
LAYERS = (
    "Layers: root, retention, chat, assistants | prompts, tools, datasets, gateway, scim, "
    "accounts, common"
)
DOOR = "Outside the gateway, only its door (gateway/__init__.py)"
ACYCLIC = "No import circles inside the gateway"
APPS_ACYCLIC = "No import circles inside the other packages"


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # A wide terminal: rich would otherwise wrap a long contract name over two lines.
    env = {**os.environ, "COLUMNS": "300", "NO_COLOR": "1"}
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def lint_imports(cwd: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    selected = [arg for contract in contracts for arg in ("--contract", contract)]
    return run([str(BIN / "lint-imports"), "--no-logo", "--no-cache", *selected], cwd)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the project's Python packages and its pyproject.toml."""
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package,
            tmp_path / package,
            ignore=lambda _dir, names: [
                name for name in names if name == "__pycache__" or name.endswith((".js", ".css"))
            ],
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def add_module(tree: Path, dotted: str, source: str) -> None:
    path = tree.joinpath(*dotted.split(".")).with_suffix(".py")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)


def test_common_importing_an_app_breaks_the_layers(tree):
    add_module(tree, "common.wrong", "from chat import models\n")

    result = lint_imports(tree, "layers")

    assert result.returncode == 1, result.stdout
    assert f"{LAYERS} BROKEN" in result.stdout
    assert "common is not allowed to import chat" in result.stdout
    assert "- common.wrong -> chat.models" in result.stdout


def test_accounts_importing_the_gateway_breaks_the_layers(tree):
    add_module(tree, "accounts.wrong", "from gateway import proxy\n")

    result = lint_imports(tree, "layers")

    assert result.returncode == 1, result.stdout
    assert f"{LAYERS} BROKEN" in result.stdout
    assert "- accounts.wrong -> gateway.proxy" in result.stdout


def test_tools_importing_chat_breaks_the_layers(tree):
    add_module(tree, "tools.wrong", "from chat import models\n")

    result = lint_imports(tree, "layers")

    assert result.returncode == 1, result.stdout
    assert "tools is not allowed to import chat" in result.stdout


def test_assistants_and_prompts_know_nothing_of_each_other(tree):
    add_module(tree, "prompts.wrong", "import assistants.apps\n")

    result = lint_imports(tree, "layers")

    assert result.returncode == 1, result.stdout
    assert "- prompts.wrong -> assistants.apps" in result.stdout


def test_an_app_past_the_gateways_door_breaks_the_door(tree):
    # chat may use the gateway (the layers allow it), through gateway/__init__.py only.
    add_module(tree, "chat.wrong", "from gateway.proxy import chat_stream\n")
    # Its admin and urls modules may name a gateway module; so may the door's own modules.
    add_module(tree, "chat.probe.__init__", "")
    add_module(tree, "chat.probe.urls", "from gateway.metrics import metrics_view\n")
    add_module(tree, "datasets.admin.probe", "from gateway.models import ApiKey\n")

    result = lint_imports(tree, "gateway-door")

    assert result.returncode == 1, result.stdout
    assert f"{DOOR} BROKEN" in result.stdout
    assert "- chat.wrong -> gateway.proxy" in result.stdout
    assert "chat.probe.urls" not in result.stdout
    assert "datasets.admin.probe" not in result.stdout


def test_a_circle_inside_the_gateway_breaks_acyclic(tree):
    add_module(tree, "gateway.probe.__init__", "")
    add_module(tree, "gateway.probe.one", "from gateway.probe import two\n")
    add_module(tree, "gateway.probe.two", "from gateway.probe import one\n")

    result = lint_imports(tree, "gateway-acyclic")

    assert result.returncode == 1, result.stdout
    assert f"{ACYCLIC} BROKEN" in result.stdout
    assert "No cycles are allowed in gateway.probe." in result.stdout


def test_a_service_importing_its_own_task_breaks_the_apps_acyclic_contract(tree):
    # The cycle common/tasks.py exists to avoid: the task calls the service, and a service
    # that imported the task module to queue it would import it back.
    refill = tree / "datasets" / "services" / "refill.py"
    refill.write_text(refill.read_text() + "\nfrom datasets import tasks  # noqa\n")

    result = lint_imports(tree, "apps-acyclic")

    assert result.returncode == 1, result.stdout
    assert f"{APPS_ACYCLIC} BROKEN" in result.stdout
    assert "No cycles are allowed in datasets." in result.stdout


def test_the_project_keeps_every_contract(tmp_path):
    result = run([str(BIN / "lint-imports"), "--no-logo", "--cache-dir", str(tmp_path)], ROOT)

    assert result.returncode == 0, result.stdout
    assert "Contracts: 4 kept, 0 broken." in result.stdout


def test_mypy_is_strict_on_common_and_the_gateways_core_and_lenient_elsewhere(tmp_path):
    # The same unannotated function: an error in common/ and in a module of the gateway's
    # pure core (a scratch gateway/types.py), accepted in an app.
    files = ["common/probe.py", "gateway/types.py", "datasets/probe.py"]
    for file in files:
        path = tmp_path / file
        path.parent.mkdir(exist_ok=True)
        (path.parent / "__init__.py").touch()
        path.write_text("def double(x):\n    return x * 2\n")
    config = ROOT / "pyproject.toml"
    command = [str(BIN / "mypy"), "--config-file", str(config), "--cache-dir", "cache"]

    result = run([*command, *files], tmp_path)

    assert result.returncode == 1, result.stdout
    missing = "1: error: Function is missing a type annotation"
    assert f"common/probe.py:{missing}" in result.stdout
    assert f"gateway/types.py:{missing}" in result.stdout
    assert "datasets/probe.py" not in result.stdout
