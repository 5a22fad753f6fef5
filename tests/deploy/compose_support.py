"""Reading compose/compose.yaml and compose/.env.example as compose would, for the deploy
tests: YAML (anchors and merge keys resolved), ${VAR}, ${VAR:-default} and ${VAR:?message}
interpolated from .env.example, $$ left as one $."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import ROOT

COMPOSE_DIR = ROOT / "compose"
COMPOSE_FILE = COMPOSE_DIR / "compose.yaml"
ENV_EXAMPLE = COMPOSE_DIR / ".env.example"
_VARIABLE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:-|:\?)(?P<arg>[^}]*))?\}"
)


def env_file_read(path: Path = ENV_EXAMPLE) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def interpolate(value: Any, variables: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {key: interpolate(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, variables) for item in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name", "op", "arg")
        found = variables.get(name, "")
        if op == ":-" and not found:
            return arg
        if op == ":?" and not found:
            raise KeyError(f"{name}: {arg}")
        return found

    return _VARIABLE.sub(replace, value)


def compose_load(variables: dict[str, str] | None = None) -> dict[str, Any]:
    """The compose model, interpolated with ``variables`` (default: .env.example's)."""
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    return interpolate(raw, env_file_read() if variables is None else variables)


def service_environment(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.partition("=")[::2] for item in environment)
    return {key: str(value) for key, value in environment.items()}


def service_networks(service: dict[str, Any]) -> set[str]:
    networks = service.get("networks") or ["default"]
    return set(networks)
