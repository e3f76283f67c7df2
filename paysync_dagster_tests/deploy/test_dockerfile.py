"""The image (deploy/Dockerfile), parsed: pinned base, non-root, the project installed from
pyproject.toml, no secret, and the ports the rest of the deployment uses."""

from __future__ import annotations

import re
import tomllib

from paysync_dagster.cli.webhooks import DEFAULT_PORT as RECEIVER_PORT
from paysync_dagster.lib.settings import read_env_file
from paysync_dagster_tests.deploy.support import (
    DEPLOY,
    REPO,
    SECRET_NAME,
    compose,
    dockerfile_instructions,
    env_assignments,
    exec_form,
    helm_values,
)

WEBSERVER_PORT, CODE_SERVER_PORT = 3000, 4000


def _env() -> dict[str, str]:
    found: dict[str, str] = {}
    for word, args in dockerfile_instructions():
        if word == "ENV":
            found.update(env_assignments(args))
    return found


def test_the_base_image_is_python_311_slim_pinned_by_its_full_tag() -> None:
    froms = [args for word, args in dockerfile_instructions() if word == "FROM"]
    assert len(froms) == 1
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?", froms[0]), froms[0]


def test_it_runs_as_a_non_root_user_created_with_a_fixed_uid() -> None:
    steps = dockerfile_instructions()
    words = [w for w, _ in steps]
    start = max(i for i, w in enumerate(words) if w in ("CMD", "ENTRYPOINT"))
    users = [(i, a) for i, (w, a) in enumerate(steps) if w == "USER" and i < start]
    assert users, "no USER before the command"
    user = users[-1][1].split(":")[0]
    assert user not in ("root", "0")
    created = next(a for w, a in steps if w == "RUN" and "useradd" in a)
    uid = int(re.search(r"--uid (\d+)", created).group(1))
    assert uid >= 1000 and re.search(rf"useradd .*\b{user}\b", created)
    # Kubernetes runs the same image as that uid.
    deployment = helm_values()["dagster-user-deployments"]["deployments"][0]
    assert deployment["podSecurityContext"]["runAsUser"] == uid and deployment["podSecurityContext"]["runAsNonRoot"]


def test_it_installs_the_project_from_pyproject_and_copies_only_what_exists() -> None:
    steps = dockerfile_instructions()
    copied = [exec_form(a)[:-1] for w, a in steps if w == "COPY"]
    sources = [s for group in copied for s in group if not s.startswith("--")]
    assert "pyproject.toml" in sources and "paysync_dagster" in sources
    for source in sources:
        assert (REPO / source).exists(), f"COPY {source}: not in the repository"
    assert any(w == "RUN" and re.search(r"\bpip install \.(\s|$)", a) for w, a in steps)
    assert not any("paysync_dagster_tests" in s for s in sources)
    name = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["name"]
    assert name == "paysync-dagster"


def test_no_secret_is_built_into_the_image() -> None:
    steps = dockerfile_instructions()
    for word, args in steps:
        if word in ("ENV", "ARG"):
            names = env_assignments(args) if word == "ENV" else {args.split("=")[0]: ""}
            assert not [n for n in names if SECRET_NAME.search(n)], f"{word} {args}"
    # The env files copied in hold no secret either (each is tested for that too).
    for word, args in steps:
        if word == "COPY" and "deploy/env" in args:
            for path in (DEPLOY / "env").glob("*.env"):
                assert not [n for n in read_env_file(path) if SECRET_NAME.search(n)]


def test_ports_and_paths_agree_with_compose_helm_and_the_environment_files() -> None:
    steps = dockerfile_instructions()
    exposed = {int(p.split("/")[0]) for w, a in steps if w == "EXPOSE" for p in a.split()}
    assert exposed == {WEBSERVER_PORT, CODE_SERVER_PORT, RECEIVER_PORT} and RECEIVER_PORT == 8720
    services = compose()["services"]
    cmd = exec_form(next(a for w, a in steps if w == "CMD"))
    assert cmd == services["code"]["command"]  # the default role is the code server
    assert cmd[cmd.index("--port") + 1] == str(CODE_SERVER_PORT)
    assert helm_values()["dagster-user-deployments"]["deployments"][0]["port"] == CODE_SERVER_PORT
    env = _env()
    workdir = next(a for w, a in steps if w == "WORKDIR")
    assert env["PAYSYNC_DEPLOY_DIR"] == f"{workdir}/deploy"  # where deploy/env and deploy/mappings are copied
    assert any(w == "COPY" and a.endswith("./deploy/env") for w, a in steps)
    assert read_env_file(DEPLOY / "env" / "prod.env")["DAGSTER_HOME"] == env["DAGSTER_HOME"]
    assert read_env_file(DEPLOY / "env" / "prod.env")["PAYSYNC_HOME"] == env["PAYSYNC_HOME"]
