"""``paysync mapping promote | history``: QA's mapping file to Prod, validated, refused over a hand
edit, and audited in the warehouse (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from paysync_dagster.lib.warehouse import make_engine, migrate
from paysync_dagster.lib.warehouse.tables import mapping_promotions
from paysync_dagster_tests.cli.support import invoke, one_line

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


@pytest.fixture
def deploy(tmp_path: Path) -> Path:
    target = tmp_path / "deploy"
    for part in ("env", "mappings"):
        shutil.copytree(DEPLOY / part, target / part)
    return target


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rows(url: str) -> list[dict]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(mapping_promotions).order_by(mapping_promotions.c.id))]
    finally:
        engine.dispose()


def _bump(path: Path, version: str, receipt_method: str) -> None:
    text = re.sub(r"(?m)^version: .*$", f'version: "{version}"', path.read_text(encoding="utf-8"))
    text = re.sub(r'(?m)^  receipt_method: .*$', f'  receipt_method: "{receipt_method}"', text)
    path.write_text(text, encoding="utf-8")


def test_promote_copies_validates_refuses_hand_edits_and_audits(deploy: Path, database_url: str) -> None:
    env = {"PAYSYNC_DEPLOY_DIR": str(deploy), "PAYSYNC_ACTOR": "ops-bot"}
    qa, prod = deploy / "mappings" / "qa.yaml", deploy / "mappings" / "prod.yaml"
    url = ["--database-url", database_url]

    # 1. A new QA version goes to Prod: same bytes, one audit row, one line saying so.
    _bump(qa, "2", "PayTrace Card QA")
    before = _sha(prod)
    done = invoke("mapping", "promote", "--from", "qa", "--to", "prod", "--note", "new receipt method",
                  "--by", "alice", *url, env=env)
    assert done.exit_code == 0, done.output
    assert prod.read_bytes() == qa.read_bytes()
    [row] = _rows(database_url)
    assert (row["promoted_by"], row["from_env"], row["to_env"], row["version"], row["note"]) == (
        "alice", "qa", "prod", "2", "new receipt method")
    assert row["sha256"] == _sha(qa) and row["replaced_sha256"] == before
    assert row["promoted_at"].tzinfo is None  # stored as UTC
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("promoted qa -> prod: version 2 (sha256 ")
    assert _sha(qa)[:12] in lines[0] and "by alice" in lines[0] and f"audit row {row['id']}" in lines[0]

    # 2. The same file again: nothing to promote, no row.
    again = invoke("mapping", "promote", *url, env=env)
    assert again.exit_code == 0 and "nothing promoted" in again.stdout
    assert len(_rows(database_url)) == 1

    # 3. Prod edited by hand: refused in one line, Prod left as it is, no row.
    prod.write_text(prod.read_text(encoding="utf-8") + "# quick fix in prod\n", encoding="utf-8")
    edited = prod.read_bytes()
    _bump(qa, "3", "PayTrace Card v3")
    refused = invoke("mapping", "promote", "--note", "v3", *url, env=env)
    assert refused.exit_code == 1
    line = one_line(refused)
    assert line.startswith(f"paysync mapping promote: {prod} was changed by hand")
    assert "version 2" in line and "by alice" in line and "qa.yaml" in line
    assert prod.read_bytes() == edited and len(_rows(database_url)) == 1

    # 4. Restored, then an invalid QA file: refused with the file, line and key; nothing changes.
    prod.write_bytes(edited[: -len(b"# quick fix in prod\n")])
    good_qa = qa.read_bytes()
    qa.write_text(qa.read_text(encoding="utf-8").replace("  receipt_method:", "  receipt_methd:"), encoding="utf-8")
    invalid = invoke("mapping", "promote", *url, env=env)
    assert invalid.exit_code == 1
    message = one_line(invalid)
    assert str(qa) in message and "receipt_methd" in message and re.search(r"line \d+", message)
    assert _sha(prod) == row["sha256"] and len(_rows(database_url)) == 1

    # 5. Fixed: promoted by PAYSYNC_ACTOR, recording what it replaced.
    qa.write_bytes(good_qa)
    third = invoke("mapping", "promote", "--note", "v3", *url, env=env)
    assert third.exit_code == 0, third.output
    assert prod.read_bytes() == good_qa
    rows = _rows(database_url)
    assert [r["version"] for r in rows] == ["2", "3"]
    assert rows[1]["promoted_by"] == "ops-bot" and rows[1]["replaced_sha256"] == rows[0]["sha256"]

    # 6. History: newest first, as a table and as JSON.
    table = invoke("mapping", "history", *url, env=env)
    assert table.exit_code == 0
    body = table.stdout.strip().splitlines()
    assert body[0].split()[:2] == ["id", "promoted"] and len(body) == 3
    assert body[1].split()[0] == str(rows[1]["id"]) and "v3" in body[1]
    assert rows[0]["sha256"][:12] in body[2] and "new receipt method" in body[2]
    as_json = json.loads(invoke("mapping", "history", "--format", "json", "--to", "prod", *url, env=env).stdout)
    assert [p["version"] for p in as_json["promotions"]] == ["3", "2"]
    assert as_json["promotions"][0]["promoted_at"].endswith("Z")


def test_promote_refuses_one_environment_to_itself_and_unknown_ones(deploy: Path, sqlite_url: str) -> None:
    env = {"PAYSYNC_DEPLOY_DIR": str(deploy)}
    engine = make_engine(sqlite_url)
    migrate(engine)
    engine.dispose()
    same = invoke("mapping", "promote", "--from", "prod", "--to", "prod", "--database-url", sqlite_url, env=env)
    assert same.exit_code == 2
    assert one_line(same).startswith("paysync mapping promote: --from and --to are both prod")
    unknown = invoke("mapping", "promote", "--to", "staging", "--database-url", sqlite_url, env=env)
    assert unknown.exit_code == 2 and "staging" in one_line(unknown)
    assert not _rows(sqlite_url)


def test_a_missing_target_file_after_a_promotion_is_refused(deploy: Path, sqlite_url: str) -> None:
    env = {"PAYSYNC_DEPLOY_DIR": str(deploy)}
    assert invoke("mapping", "promote", "--by", "alice", "--database-url", sqlite_url, env=env).exit_code == 0
    (deploy / "mappings" / "prod.yaml").unlink()
    gone = invoke("mapping", "promote", "--database-url", sqlite_url, env=env)
    assert gone.exit_code == 1 and "was removed since version 1" in one_line(gone)
    assert len(_rows(sqlite_url)) == 1
