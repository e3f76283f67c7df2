"""Versions of the mapping file: numbered, append-only, each with author, note, audit row and diff; a
stale or invalid save changes nothing; a hand edit becomes a version of its own; rolling back is a
new version with the old text."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from paysync_dagster.lib.mapping import SAMPLE_MAPPING, load_mapping
from paysync_dagster.lib.studio import versions
from paysync_dagster.lib.warehouse.tables import audit_log, mapping_versions

SAMPLE = SAMPLE_MAPPING.read_text(encoding="utf-8")


@pytest.fixture
def mapping_file(tmp_path: Path) -> Path:
    path = tmp_path / "mapping.yaml"
    shutil.copyfile(SAMPLE_MAPPING, path)
    return path


def _edited(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


def test_the_file_as_found_is_version_one_and_a_save_is_version_two(engine: Engine, mapping_file: Path) -> None:
    first = versions.in_force(engine, mapping_file, "maria")
    assert (first.number, first.action, first.version, first.diff) == (1, "found", "2026.11-sample", "")
    assert versions.in_force(engine, mapping_file, "maria").number == 1  # looking again records nothing
    text = _edited(SAMPLE, 'default: "101.10.12000.000"', 'default: "101.10.12001.000"')
    saved = versions.save(engine, mapping_file, text, "maria", "new clearing account", base=1)
    assert (saved.number, saved.action, saved.saved_by, saved.note, saved.based_on) == (2, "save", "maria",
                                                                                         "new clearing account", 1)
    assert mapping_file.read_text(encoding="utf-8") == text
    assert load_mapping(mapping_file).gl_accounts.default == "101.10.12001.000"
    assert '-  default: "101.10.12000.000"' in saved.diff and '+  default: "101.10.12001.000"' in saved.diff
    assert [v.number for v in versions.history(engine, mapping_file)] == [2, 1]
    with engine.connect() as conn:
        audit = conn.execute(select(audit_log.c.actor, audit_log.c.action, audit_log.c.note)
                             .order_by(audit_log.c.id)).all()
    assert [tuple(a) for a in audit] == [("paysync", "mapping.found", "the file as the studio first found it"),
                                         ("maria", "mapping.save", "new clearing account")]


def test_a_save_from_a_stale_version_or_of_invalid_rules_changes_nothing(engine: Engine, mapping_file: Path) -> None:
    versions.in_force(engine, mapping_file, "maria")
    first = _edited(SAMPLE, "amount_minor: 0 ", "amount_minor: 1 ")
    versions.save(engine, mapping_file, first, "maria", "one cent", base=1)
    before = mapping_file.read_bytes()
    with pytest.raises(versions.VersionError, match="is at version 2 .* not at version 1 you edited"):
        versions.save(engine, mapping_file, _edited(SAMPLE, "amount_minor: 0 ", "amount_minor: 2 "), "joe", "two", base=1)
    with pytest.raises(versions.VersionError, match=r"key tolerances\.amount_minor"):
        versions.save(engine, mapping_file, _edited(first, "amount_minor: 1 ", "amount_minor: -1 "), "joe", "x", base=2)
    with pytest.raises(versions.VersionError, match="nothing changed"):
        versions.save(engine, mapping_file, first, "joe", "again", base=2)
    assert mapping_file.read_bytes() == before
    assert [v.number for v in versions.history(engine, mapping_file)] == [2, 1]


def test_a_hand_edit_becomes_a_version_and_a_rollback_is_a_new_version(engine: Engine, mapping_file: Path) -> None:
    versions.in_force(engine, mapping_file, "maria")
    versions.save(engine, mapping_file, _edited(SAMPLE, "digits: 6", "digits: 7"), "maria", "seven digits", base=1)
    mapping_file.write_text(_edited(mapping_file.read_text(), "digits: 7", "digits: 8"), encoding="utf-8")  # an engineer
    hand = versions.in_force(engine, mapping_file, "maria")
    assert (hand.number, hand.action, hand.note) == (3, "found", "the file was changed outside the studio")
    assert "-  digits: 7" in hand.diff and "+  digits: 8" in hand.diff
    back = versions.rollback(engine, mapping_file, 1, "maria", None, base=3)
    assert (back.number, back.action, back.based_on, back.note) == (4, "rollback", 1, "rolled back to version 1")
    assert mapping_file.read_text(encoding="utf-8") == SAMPLE
    assert back.sha256 == versions.version(engine, mapping_file, 1).sha256
    assert [v.number for v in versions.history(engine, mapping_file)] == [4, 3, 2, 1]
    with pytest.raises(versions.VersionError, match="has no version 9"):
        versions.rollback(engine, mapping_file, 9, "maria", None, base=4)


def test_versions_of_two_files_are_counted_apart(engine: Engine, mapping_file: Path, tmp_path: Path) -> None:
    other = tmp_path / "qa.yaml"
    shutil.copyfile(SAMPLE_MAPPING, other)
    versions.in_force(engine, mapping_file, "maria")
    versions.save(engine, mapping_file, _edited(SAMPLE, "digits: 6", "digits: 7"), "maria", "x", base=1)
    assert versions.in_force(engine, other, "maria").number == 1
    with engine.connect() as conn:
        assert conn.execute(select(mapping_versions.c.number)).scalars().all().count(1) == 2


def test_a_file_that_is_not_utf8_is_named_not_recorded(engine: Engine, mapping_file: Path) -> None:
    mapping_file.write_bytes(SAMPLE.encode("utf-8") + b"\n# caf\xe9\n")
    with pytest.raises(versions.VersionError, match="not UTF-8 text"):
        versions.in_force(engine, mapping_file, "maria")
    assert versions.history(engine, mapping_file) == []
