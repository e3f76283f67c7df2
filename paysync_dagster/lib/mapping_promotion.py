"""Promoting a mapping file from one environment to another (QA to Prod), with an audit row.

The source file is validated with the same model every run uses, then copied byte for byte over the
target environment's file, and a row goes to the append-only ``mapping_promotions`` table: who, when
(UTC), from and to, the version and the file's sha256. The last row for an environment is what its
file must still hash to: a file edited by hand since is refused rather than overwritten unseen (before
the first promotion there is nothing to compare with: the row records the file it replaced). The file is replaced inside the row's transaction
and put back if the row cannot be committed, so a file and its audit row never disagree.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, desc, select

from paysync_dagster.lib.mapping import mapping_file_for, parse_mapping
from paysync_dagster.lib.settings import ENVIRONMENTS, environment_mapping_file
from paysync_dagster.lib.timeutil import utcnow
from paysync_dagster.lib.warehouse.engine import begin_write
from paysync_dagster.lib.warehouse.tables import mapping_promotions

SHORT = 12  # hex digits shown to people, as on every materialization


class PromotionError(ValueError):
    """The promotion was refused; nothing was copied and no row written. The message says why and what to do."""


@dataclass(frozen=True)
class Promotion:
    id: int | None  # the audit row; None when there was nothing to promote
    promoted_at: datetime
    promoted_by: str
    from_env: str
    to_env: str
    version: str
    sha256: str
    replaced_sha256: str | None
    note: str | None
    target: Path


def file_sha256(path: Path) -> str | None:
    """The sha256 of a file's bytes (hex), or None when there is no file."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def history(engine: Engine, env: str | None = None, limit: int | None = None) -> list[dict]:
    """The audit rows, newest first (only those into ``env`` when given)."""
    query = select(mapping_promotions).order_by(desc(mapping_promotions.c.id))
    if env is not None:
        query = query.where(mapping_promotions.c.to_env == env)
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def promote(engine: Engine, from_env: str, to_env: str, by: str, note: str | None = None) -> Promotion:
    """Copy ``from_env``'s mapping file over ``to_env``'s after validating it, and record the promotion."""
    for env in (from_env, to_env):
        if env not in ENVIRONMENTS:
            raise PromotionError(f"unknown environment {env!r}; the environments are {', '.join(ENVIRONMENTS)}")
    if from_env == to_env:
        raise PromotionError(f"--from and --to are both {from_env}; promote from one environment to another")
    # The source may be Dev's packaged sample; the target is always the environment's own file.
    source, target = mapping_file_for(from_env), environment_mapping_file(to_env)
    try:
        data = source.read_bytes()
    except FileNotFoundError:
        raise PromotionError(f"{source}: no mapping file for {from_env}; create it first") from None
    mapping = parse_mapping(data.decode("utf-8"), str(source))  # MappingError names file, line and key
    digest = hashlib.sha256(data).hexdigest()
    current = file_sha256(target)
    last = (history(engine, to_env, limit=1) or [None])[0]
    if last is not None and current != last["sha256"]:
        what = "was removed" if current is None else f"was changed by hand (sha256 {current[:SHORT]})"
        raise PromotionError(
            f"{target} {what} since version {last['version']} (sha256 {last['sha256'][:SHORT]}) was promoted to "
            f"{to_env} by {last['promoted_by']} at {last['promoted_at']:%Y-%m-%d %H:%M:%S} UTC; make that change "
            f"in {source.name} instead, restore the promoted file, then promote again")
    at = utcnow().replace(microsecond=0)
    if last is not None and current == digest:  # the same file again: nothing changes, nothing to record
        return Promotion(None, at, by, from_env, to_env, mapping.version, digest, current, note, target)
    row = {"promoted_at": at, "promoted_by": by, "from_env": from_env, "to_env": to_env, "version": mapping.version,
           "sha256": digest, "replaced_sha256": current, "note": note}
    previous = target.read_bytes() if current is not None else None
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with begin_write(engine) as conn:
            row_id = conn.execute(mapping_promotions.insert().values(**row)).inserted_primary_key[0]
            replace_file(target, data)  # last inside the transaction: a failed insert leaves the file alone
    except BaseException:
        if file_sha256(target) == digest:  # the commit failed after the copy: put the old file back
            if previous is None:
                target.unlink()
            else:
                replace_file(target, previous)
        raise
    return Promotion(int(row_id), at, by, from_env, to_env, mapping.version, digest, current, note, target)


def replace_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` in one step (a reader sees the old file or the new one, never half)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
