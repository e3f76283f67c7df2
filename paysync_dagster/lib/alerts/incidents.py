"""Incidents: a stable key for what is wrong, a title and the text people read.

The text carries ids (runs, transactions, batches, exceptions), reason codes, masked data at most and
amounts in currency units with their currency. Free text that comes from elsewhere (an error message)
is cut short, every known secret value in it is replaced, and every card-like number masked
(:func:`clean`), so that a message can be stored and sent without card data or a secret.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from paysync_dagster.lib.scrub import mask_card_numbers

RUN_FAILURE = "run_failure"
CHECK_FAILURE = "check_failure"
QUEUE_COUNT = "exception_queue_count"
QUEUE_AGE = "exception_queue_age"
QUEUE_AMOUNT = "exception_queue_amount"
BATCH_NOT_TIED = "batch_not_tied"
QUEUE_KINDS = (QUEUE_COUNT, QUEUE_AGE, QUEUE_AMOUNT)

REDACTED = "[redacted]"
# A secret shorter than this is not searched for: it would blank ordinary words and numbers.
MIN_SECRET_LENGTH = 6
MAX_TITLE = 200
MAX_TEXT = 3_000
MAX_ERROR = 400
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def redact(text: str, secrets: Iterable[str]) -> str:
    """Each secret value in ``text`` replaced, the longest first (one may contain another)."""
    for secret in sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def clean(text: str, secrets: Iterable[str] = (), limit: int = MAX_TEXT, keep: Iterable[str] = ()) -> str:
    """``text`` fit to be stored and sent: control characters dropped, each secret value replaced
    (before masking, which could change a secret's digits so that it no longer matches), card-like
    numbers masked to their last four, then cut to ``limit``. ``keep`` are values PaySync itself put
    there and known not to be card data (a run id: a UUID whose digit groups can look like a card
    number), left whole so that a link to the run still works."""
    text = redact(_CONTROL.sub("", text), secrets)
    kept = [k for k in dict.fromkeys(keep) if k and k in text]
    for i, value in enumerate(kept):
        text = text.replace(value, f"\x00{chr(65 + i)}\x00")
    text = mask_card_numbers(text)[0]
    for i, value in enumerate(kept):
        text = text.replace(f"\x00{chr(65 + i)}\x00", value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def one_line(text: str, secrets: Iterable[str] = (), limit: int = MAX_TITLE) -> str:
    """``clean`` on one line (a title, an e-mail subject: a line break there could inject a header)."""
    return clean(" ".join(text.split()), secrets, limit)


@dataclass(frozen=True)
class Incident:
    """Something wrong that needs a person. ``key`` is the same at every tick that sees it."""

    key: str
    kind: str
    title: str
    text: str
    keep: tuple[str, ...] = ()  # ids PaySync put in the text, not card data (see clean)

    def __post_init__(self) -> None:
        # Whoever built it, what is stored and sent never holds a card number.
        object.__setattr__(self, "title", one_line(self.title))
        object.__setattr__(self, "text", clean(self.text, keep=self.keep))


def run_link(ui_base_url: str | None, run_id: str) -> str | None:
    return f"{ui_base_url.rstrip('/')}/runs/{run_id}" if ui_base_url else None


def asset_checks_link(ui_base_url: str | None, asset_path: str) -> str | None:
    return f"{ui_base_url.rstrip('/')}/assets/{asset_path}?view=checks" if ui_base_url else None


def run_failure_incident(*, job_name: str, run_id: str, partition: str | None, steps_failed: Iterable[str],
                         error: str | None, ui_base_url: str | None, secrets: Iterable[str] = (),
                         environment: str = "") -> Incident:
    """A failed run. One incident per job and partition: further failures of the same job and date
    while it is open are the same incident; a later successful run of it resolves it."""
    secrets = list(secrets)
    where = f" for {partition}" if partition else ""
    lines = [f"Run {run_id} of {job_name}{where} failed."]
    steps = sorted(set(steps_failed))
    if steps:
        lines.append("Steps failed: " + ", ".join(steps[:10]) + (f" (+{len(steps) - 10} more)" if len(steps) > 10 else ""))
    if error:
        lines.append("Error: " + clean(error.strip().splitlines()[0] if error.strip() else "", secrets, MAX_ERROR))
    link = run_link(ui_base_url, run_id)
    if link:
        lines.append(f"Run: {link}")
    return Incident(key=f"{RUN_FAILURE}:{job_name}:{partition or '-'}", kind=RUN_FAILURE,
                    title=titled(environment, f"Run failed: {job_name}{where}"),
                    text=clean("\n".join(lines), secrets, keep=[run_id]), keep=(run_id,))


def check_failure_incident(*, asset_path: str, check_name: str, partition: str | None, run_id: str,
                           description: str | None, metadata: Mapping[str, object], ui_base_url: str | None,
                           secrets: Iterable[str] = (), environment: str = "") -> Incident:
    """A blocking asset check that failed (the step failed, what is downstream did not run). One
    incident per check and partition; a later passing evaluation resolves it."""
    secrets = list(secrets)
    where = f" for {partition}" if partition else ""
    lines = [f"Blocking check {check_name} on {asset_path}{where} failed in run {run_id}; "
             "what depends on it did not run."]
    if description:
        lines.append("Check: " + clean(description, secrets, MAX_ERROR))
    for name, value in list(metadata.items())[:8]:
        lines.append(f"{name}: " + clean(str(value), secrets, MAX_ERROR))
    for label, link in (("Run", run_link(ui_base_url, run_id)), ("Checks", asset_checks_link(ui_base_url, asset_path))):
        if link:
            lines.append(f"{label}: {link}")
    return Incident(key=f"{CHECK_FAILURE}:{asset_path}:{check_name}:{partition or '-'}", kind=CHECK_FAILURE,
                    title=titled(environment, f"Check failed: {asset_path} {check_name}{where}"),
                    text=clean("\n".join(lines), secrets, keep=[run_id]), keep=(run_id,))


def titled(environment: str, title: str) -> str:
    return f"[PaySync {environment}] {title}" if environment else f"[PaySync] {title}"


# Environment variables whose values are secrets wherever they appear (the alerts' own, the APIs'
# passwords, the webhook secret...): a message never shows them, even quoted in an error.
_SECRET_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN|PRIVATE_KEY|API_KEY|WEBHOOK_URL)", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"^[a-z][a-z0-9+.\-]*://[^:/@\s]*:([^@\s]+)@", re.IGNORECASE)


def secrets_in_environment(environ: Mapping[str, str]) -> list[str]:
    """The secret values a message must never show: variables named like a secret, and the password
    in any URL-valued variable (``PAYSYNC_DATABASE_URL=postgresql+psycopg://user:<password>@host/db``)."""
    found = []
    for name, value in environ.items():
        if not value:
            continue
        if _SECRET_NAME.search(name):
            found.append(value)
        m = _URL_PASSWORD.match(value)
        if m:
            found.append(m.group(1))
    return found
