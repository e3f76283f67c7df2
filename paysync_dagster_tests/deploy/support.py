"""Reading the deployment files as the tools that use them would: the Dockerfile's instructions, the
compose file, the Helm values, the env files."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
# Names that hold a secret: never given a value in a file of this repository.
SECRET_NAME = re.compile(r"PASSWORD|SECRET|PRIVATE_KEY|TOKEN(?!_URL)|DATABASE_URL|API_KEY")


def dockerfile_instructions(path: Path = DEPLOY / "Dockerfile") -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, line continuations joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = (pending + line).strip()
        pending = ""
        word, _, rest = text.partition(" ")
        out.append((word.upper(), rest.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return out


def exec_form(arguments: str) -> list[str]:
    """A CMD/ENTRYPOINT/RUN argument list in exec (JSON) form, or the shell form split like a shell."""
    import json

    return json.loads(arguments) if arguments.startswith("[") else shlex.split(arguments)


def env_assignments(arguments: str) -> dict[str, str]:
    """The NAME=value pairs of one ENV instruction."""
    return dict(part.split("=", 1) for part in shlex.split(arguments))


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def compose() -> dict[str, Any]:
    return load_yaml(DEPLOY / "compose.yaml")


def helm_values() -> dict[str, Any]:
    return load_yaml(DEPLOY / "helm" / "values.yaml")
