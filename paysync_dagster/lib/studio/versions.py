"""Versions of the mapping file: every save is a numbered, append-only version with who, why and a diff.

The file stays the source of truth: the pipeline loads it, engineers edit it by hand, and the version
in force is simply the one whose sha256 the file has. A file changed outside the studio becomes a
version of its own ("found") the next time the studio looks, so the history never skips a state the
pipeline may have run with. Saving validates the text with the model every run uses, writes the
version's row and its audit row in one transaction and replaces the file last inside it (put back if
the commit fails), so a file and its history never disagree. Rolling back is saving an earlier
version's text again, as a new version.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, desc, func, select

from paysync_dagster.lib.exceptions.audit import record
from paysync_dagster.lib.mapping import MappingError, parse_mapping
from paysync_dagster.lib.mapping_promotion import file_sha256, replace_file
from paysync_dagster.lib.timeutil import utcnow
from paysync_dagster.lib.warehouse.engine import begin_write
from paysync_dagster.lib.warehouse.tables import mapping_versions

FOUND, SAVE, ROLLBACK, ACCEPT = "found", "save", "rollback", "accept"
SHORT = 12  # hex digits of a sha256 shown to people


class VersionError(ValueError):
    """The save was refused; nothing was written. The message says why and what to do."""


@dataclass(frozen=True)
class Version:
    number: int
    saved_at: datetime
    saved_by: str
    action: str
    based_on: int | None
    version: str
    sha256: str
    note: str | None
    text: str
    diff: str

    @property
    def short_sha(self) -> str:
        return self.sha256[:SHORT]


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def unified_diff(before: str, after: str, before_name: str, after_name: str) -> str:
    return "".join(difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                        before_name, after_name))


def _target(path: Path) -> str:
    return str(path.resolve())


def _row(r) -> Version:  # noqa: ANN001
    return Version(r.number, r.saved_at, r.saved_by, r.action, r.based_on, r.version, r.sha256, r.note, r.text, r.diff)


def history(engine: Engine, path: Path, limit: int | None = None) -> list[Version]:
    """The file's versions, newest first."""
    query = (select(mapping_versions).where(mapping_versions.c.target == _target(path))
             .order_by(desc(mapping_versions.c.number)))
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as conn:
        return [_row(r) for r in conn.execute(query)]


def version(engine: Engine, path: Path, number: int) -> Version | None:
    with engine.connect() as conn:
        r = conn.execute(select(mapping_versions).where(mapping_versions.c.target == _target(path),
                                                        mapping_versions.c.number == number)).first()
    return _row(r) if r is not None else None


def in_force(engine: Engine, path: Path, by: str) -> Version:
    """The version the file holds now (what the next run loads), recorded first as a "found" version
    when the file was changed outside the studio or the history is empty."""
    with engine.connect() as conn:  # every page asks: a read, unless there is something to record
        last = _last(conn, path)
    try:
        unchanged = last is not None and text_sha256(path.read_text(encoding="utf-8")) == last.sha256
    except (OSError, UnicodeDecodeError):
        unchanged = False  # _in_force says what is wrong with the file
    if unchanged:
        return _row(last)
    with begin_write(engine) as conn:
        return _in_force(conn, path, by)


def _last(conn: Connection, path: Path):  # noqa: ANN202
    return conn.execute(select(mapping_versions).where(mapping_versions.c.target == _target(path))
                        .order_by(desc(mapping_versions.c.number)).limit(1)).first()


def _in_force(conn: Connection, path: Path, by: str) -> Version:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise VersionError(f"{path}: cannot read the mapping file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise VersionError(f"{path}: not UTF-8 text (byte {exc.start}); save the mapping file as UTF-8") from None
    digest = text_sha256(text)
    last = _last(conn, path)
    if last is not None and last.sha256 == digest:
        return _row(last)
    try:
        label = parse_mapping(text, str(path)).version
    except MappingError:
        label = "(does not load)"  # recorded all the same: it is what the file holds
    note = "the file as the studio first found it" if last is None else "the file was changed outside the studio"
    return _insert(conn, path, FOUND, None, label, text, note, "paysync", last)


def _insert(conn: Connection, path: Path, action: str, based_on: int | None, label: str, text: str,
            note: str | None, by: str, last) -> Version:  # noqa: ANN001
    number = (last.number if last is not None else 0) + 1
    diff = unified_diff(last.text, text, f"version {last.number}", f"version {number}") if last is not None else ""
    row = {"target": _target(path), "number": number, "saved_at": utcnow().replace(microsecond=0), "saved_by": by,
           "action": action, "based_on": based_on, "version": label, "sha256": text_sha256(text), "note": note,
           "text": text, "diff": diff}
    conn.execute(mapping_versions.insert().values(**row))
    record(conn, by, f"mapping.{action}", f"mapping file {path}",
           None if last is None else {"number": last.number, "version": last.version, "sha256": last.sha256},
           {"number": number, "version": label, "sha256": row["sha256"]}, note, at=row["saved_at"])
    return Version(number, row["saved_at"], by, action, based_on, label, row["sha256"], note, text, diff)


def next_number(engine: Engine, path: Path) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.max(mapping_versions.c.number), 0))
                                .where(mapping_versions.c.target == _target(path))).scalar_one()) + 1


def save(engine: Engine, path: Path, text: str, by: str, note: str | None, *, base: int,
         action: str = SAVE, based_on: int | None = None) -> Version:
    """Write ``text`` as the file's next version. ``base``: the version the editor started from; when
    the file has moved on since (another save, a hand edit), the save is refused rather than undoing
    that change unseen. Refused as well when the text does not load (the message names the key)."""
    if not by:
        raise VersionError("a version needs its author")
    try:
        mapping = parse_mapping(text, str(path))
    except MappingError as exc:
        raise VersionError(str(exc)) from None
    previous = path.read_bytes() if path.exists() else None
    try:
        with begin_write(engine) as conn:
            current = _in_force(conn, path, by)
            if current.number != base:
                raise VersionError(f"{path} is at version {current.number} ({current.action} by {current.saved_by} at "
                                   f"{current.saved_at:%Y-%m-%d %H:%M:%S} UTC), not at version {base} you edited; "
                                   "reload the studio and make your change again")
            if current.sha256 == text_sha256(text):
                raise VersionError(f"nothing changed: the text is version {current.number}'s")
            done = _insert(conn, path, action, based_on if based_on is not None else base, mapping.version, text,
                           note, by, current)
            try:
                replace_file(path, text.encode("utf-8"))  # last inside the transaction: a failed insert leaves the file
            except OSError as exc:
                raise VersionError(f"{path}: cannot write the mapping file ({exc.strerror})") from None
    except BaseException:
        if previous is not None and file_sha256(path) == text_sha256(text) != hashlib.sha256(previous).hexdigest():
            replace_file(path, previous)  # the commit failed after the file was written: put it back
        raise
    return done


def rollback(engine: Engine, path: Path, to: int, by: str, note: str | None, *, base: int) -> Version:
    """Put version ``to``'s text back in force, as a new version (the history only grows)."""
    earlier = version(engine, path, to)
    if earlier is None:
        raise VersionError(f"{path} has no version {to}")
    return save(engine, path, earlier.text, by, note or f"rolled back to version {to}", base=base,
                action=ROLLBACK, based_on=to)
