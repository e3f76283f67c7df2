"""Deployment settings read from the environment (non-secret ones; secrets are wired with dg.EnvVar)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from paysync_dagster.lib.timeutil import zone

# Where no PayTrace or ERP URL is configured, the local sandbox (`paysync sandbox`) is used.
DEFAULT_PAYTRACE_BASE_URL = "http://127.0.0.1:8710"
DEFAULT_ORACLE_FUSION_BASE_URL = "http://127.0.0.1:8710"
DEFAULT_SAGE300_BASE_URL = "http://127.0.0.1:8710/Sage300WebApi/v1.0/-"
DEFAULT_SAGE300_COMPANY = "SAMLTD"

DEFAULT_PARTITIONS_START = "2026-01-01"


def merchant_timezone() -> str:
    """The merchant's time zone: business dates, batch closes and PayTrace timestamps are read in it.

    ``PAYSYNC_MERCHANT_TIMEZONE`` when set, else ``merchant_time_zone`` of the mapping file.
    """
    name = os.environ.get("PAYSYNC_MERCHANT_TIMEZONE")
    if not name:
        from paysync_dagster.lib.mapping import load_mapping

        name = load_mapping().merchant_time_zone
    zone(name)  # fail at load with a clear message, not mid-run
    return name


def partitions_start() -> str:
    """First business date of the daily partitions (``YYYY-MM-DD``)."""
    raw = os.environ.get("PAYSYNC_PARTITIONS_START") or DEFAULT_PARTITIONS_START
    try:
        date.fromisoformat(raw)
    except ValueError as exc:
        raise ValueError(f"PAYSYNC_PARTITIONS_START must be YYYY-MM-DD, got {raw!r}") from exc
    return raw


def reports_dir() -> str:
    """Where reconciliation reports are written (one folder per business date):
    ``PAYSYNC_REPORTS_DIR``, else ``.paysync/reports`` under the working directory."""
    return os.environ.get("PAYSYNC_REPORTS_DIR") or os.path.join(os.getcwd(), ".paysync", "reports")


def bank_files_dir() -> str | None:
    """The folder of bank statement files (CSV or BAI2) for the bank leg: ``PAYSYNC_BANK_FILES_DIR``;
    None (no bank leg) when unset."""
    return os.environ.get("PAYSYNC_BANK_FILES_DIR") or None


# --- environments ----------------------------------------------------------------------------------
# Dev, QA and Prod are documented configurations: an env file of non-secret settings
# (``<deploy>/env/<env>.env``) and a mapping file (``<deploy>/mappings/<env>.yaml``). ``PAYSYNC_ENV``
# picks one; the env file fills only what the process environment leaves unset, so a variable set by
# the operator, the container or the secret store always wins.

ENVIRONMENT_SETTING = "PAYSYNC_ENV"
DEPLOY_DIR_SETTING = "PAYSYNC_DEPLOY_DIR"
ENVIRONMENTS = ("dev", "qa", "prod")
DEFAULT_ENVIRONMENT = "dev"


class SettingsError(ValueError):
    """A setting or an env file cannot be used; the message says which and what to do."""


def environment() -> str:
    """The environment this process runs as: ``PAYSYNC_ENV`` (dev, qa or prod), dev when unset."""
    raw = (os.environ.get(ENVIRONMENT_SETTING) or DEFAULT_ENVIRONMENT).strip().lower()
    if raw not in ENVIRONMENTS:
        raise SettingsError(f"{ENVIRONMENT_SETTING} must be one of {', '.join(ENVIRONMENTS)}, got {raw!r}")
    return raw


def deploy_dir() -> Path:
    """The folder holding ``env/`` and ``mappings/``: ``PAYSYNC_DEPLOY_DIR``, else ``deploy/`` of the
    source checkout this package runs from (an installed image sets the variable)."""
    raw = os.environ.get(DEPLOY_DIR_SETTING)
    return Path(raw) if raw else Path(__file__).resolve().parents[2] / "deploy"


def env_file(env: str | None = None) -> Path:
    """The env file of ``env`` (default: this process's environment)."""
    return deploy_dir() / "env" / f"{env or environment()}.env"


def environment_mapping_file(env: str | None = None) -> Path:
    """The mapping file of ``env`` (default: this process's environment): ``<deploy>/mappings/<env>.yaml``."""
    return deploy_dir() / "mappings" / f"{env or environment()}.yaml"


_ASSIGNMENT = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def read_env_file(path: Path) -> dict[str, str]:
    """The ``NAME=value`` lines of an env file (the format Docker Compose's ``env_file`` reads too):
    blank lines and ``#`` comments are skipped, a value may be quoted with ' or \"."""
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        found = _ASSIGNMENT.match(stripped)
        if found is None:
            raise SettingsError(f"{path}, line {number}: not a NAME=value line; write it as NAME=value or comment it out with #")
        name, value = found.group(1), found.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name] = value
    return values


@dataclass(frozen=True)
class LoadedEnvironment:
    """What :func:`load_environment` did: the environment, its env file, and the names it set."""

    name: str
    path: Path
    applied: tuple[str, ...]


def load_environment(env: str | None = None) -> LoadedEnvironment:
    """Read the env file of ``env`` (default ``PAYSYNC_ENV``) into ``os.environ`` without overriding
    a variable already set. Called where configuration is read at start (the ``paysync`` command, the
    code location's definitions), never at import.

    Dev may have no env file (its settings are the built-in defaults); QA and Prod must have theirs.
    """
    name = env or environment()
    path = env_file(name)
    if not path.is_file():
        if name == DEFAULT_ENVIRONMENT:
            return LoadedEnvironment(name, path, ())
        raise SettingsError(f"{ENVIRONMENT_SETTING}={name}: no env file at {path}; "
                            f"set {DEPLOY_DIR_SETTING} to the folder that holds env/{name}.env and mappings/")
    applied = []
    for key, value in read_env_file(path).items():
        if key not in os.environ:
            os.environ[key] = value
            applied.append(key)
    return LoadedEnvironment(name, path, tuple(applied))
