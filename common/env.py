"""Typed readers for environment variables.

Every setting aiportal takes from the environment goes through one of these, so a typo such
as ``DEBUG=ture`` stops the process at start-up with a message that names the variable,
instead of silently meaning something else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


class ConfigError(Exception):
    """A variable is set to something aiportal cannot use. The message says what to fix."""


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def env_str(name: str, default: str = "", *, environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    value = environ.get(name)
    return default if value is None or value == "" else value


def env_bool(name: str, default: bool, *, environ: Mapping[str, str] | None = None) -> bool:
    raw = env_str(name, environ=environ).strip().lower()
    if raw == "":
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}")


def env_int(
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    raw = env_str(name, environ=environ).strip()
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {value}")
    return value


def env_float(name: str, default: float, *, environ: Mapping[str, str] | None = None) -> float:
    raw = env_str(name, environ=environ).strip()
    if raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None


def env_list(
    name: str, default: list[str] | None = None, *, environ: Mapping[str, str] | None = None
) -> list[str]:
    """A comma-separated list; blanks around items and empty items are dropped."""
    raw = env_str(name, environ=environ)
    if raw == "":
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_secret(name: str, default: str = "", *, environ: Mapping[str, str] | None = None) -> str:
    """A secret from ``NAME`` or from the file named by ``NAME_FILE`` (Docker/Kubernetes secrets).

    Setting both is refused: which one wins would be a guess, and a guess about a secret is a
    misconfiguration waiting to happen.
    """
    environ = os.environ if environ is None else environ
    direct = env_str(name, environ=environ)
    file_name = env_str(f"{name}_FILE", environ=environ)
    if direct and file_name:
        raise ConfigError(f"set {name} or {name}_FILE, not both")
    if file_name:
        try:
            return Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE={file_name} cannot be read: {exc.strerror}") from None
    return direct or default
