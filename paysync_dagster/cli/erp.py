"""``paysync erp customers``: an ERP's customer accounts as CSV, the ``--erp`` file of ``paysync mapping
suggest customers`` (header ``account_number,name,email,phone,address_line1,address_line2,city,state,
postal_code,country``).

The ERP is reached as the pipeline reaches it, with the settings of the environment (``ORACLE_FUSION_*``,
``SAGE300_*``, from the process environment or the env file of ``PAYSYNC_ENV``; without a URL, the
local sandbox's). What each ERP gives is in the adapters: :meth:`SageAdapter.customer_master
<paysync_dagster.lib.sage.adapter.SageAdapter.customer_master>` (every column; the suspense customer of
the mapping file left out) and :func:`paysync_dagster.lib.oracle.adapter.customer_master` (account
number, name and the bill-to site's address as one line; Oracle's Receivables REST documents no
e-mail, phone or address parts). The file is written beside its target and renamed into place, so a
failed run leaves the target as it was. No secret is printed: errors name settings, never values.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

import click

from paysync_dagster.cli.errors import Failure, Group
from paysync_dagster.cli.suggest import ERP_ACCOUNT_COLUMNS

STDOUT = "-"
# A person waits at the terminal: a few quick attempts, not the pipeline's patient retries.
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 60.0
ATTEMPTS = 3
FIRST_WAIT_S = 0.5
LONGEST_WAIT_S = 5.0
# Whatever the HTTP layer says about a failed attempt: the one error line says it instead.
QUIET_LOGGERS = ("paysync.http", "paysync.oracle", "paysync.sage")


@dataclass(frozen=True)
class _Erp:
    title: str
    url_setting: str
    credential_settings: str  # named when the ERP refuses the credentials
    required: Callable[[], tuple[str, ...]]  # the settings without which it cannot be asked
    url: Callable[[], str]
    read: Callable[[], list[dict[str, str]]]


def _setting(name: str, default: str) -> str:
    return os.environ.get(name) or default


def _oracle_url() -> str:
    from paysync_dagster.lib.settings import DEFAULT_ORACLE_FUSION_BASE_URL

    return _setting("ORACLE_FUSION_BASE_URL", DEFAULT_ORACLE_FUSION_BASE_URL)


def _oracle_required() -> tuple[str, ...]:
    if os.environ.get("ORACLE_FUSION_CLIENT_ID"):
        return ("ORACLE_FUSION_USERNAME", "ORACLE_FUSION_CLIENT_SECRET", "ORACLE_FUSION_PRIVATE_KEY",
                "ORACLE_FUSION_TOKEN_URL")
    return ("ORACLE_FUSION_USERNAME", "ORACLE_FUSION_PASSWORD")


def _oracle_read() -> list[dict[str, str]]:
    from paysync_dagster.cli.doctor import oracle_resource_from_env
    from paysync_dagster.lib.oracle.adapter import customer_master

    resource = oracle_resource_from_env(connect_timeout_s=CONNECT_TIMEOUT_S, read_timeout_s=READ_TIMEOUT_S,
                                        max_attempts=ATTEMPTS, base_delay_s=FIRST_WAIT_S, max_delay_s=LONGEST_WAIT_S)
    with resource.client() as client:
        return customer_master(client)


def _sage_url() -> str:
    from paysync_dagster.lib.settings import DEFAULT_SAGE300_BASE_URL

    return _setting("SAGE300_BASE_URL", DEFAULT_SAGE300_BASE_URL)


def _sage_read() -> list[dict[str, str]]:
    from paysync_dagster.cli.doctor import sage_resource_from_env
    from paysync_dagster.lib.mapping import load_mapping

    mapping = load_mapping()  # the suspense customer (receipts.sage.suspense_customer) is left out
    resource = sage_resource_from_env(connect_timeout_s=CONNECT_TIMEOUT_S, timeout_s=READ_TIMEOUT_S,
                                      max_attempts=ATTEMPTS, base_delay_s=FIRST_WAIT_S, max_delay_s=LONGEST_WAIT_S)
    with resource.client() as client:
        return resource.adapter(client, mapping).customer_master()


def _sagepro_read() -> list[dict[str, str]]:
    from pathlib import Path

    from paysync_dagster.lib.sagepro.adapter import SageProAdapter
    from paysync_dagster.lib.sagepro.reader import SageProError, SageProReader

    try:
        reader = SageProReader(Path(os.environ["SAGEPRO_DATA_DIR"]), _setting("SAGEPRO_COMPANY", "01"))
        return SageProAdapter(reader).customer_master()
    except (SageProError, ValueError) as exc:  # the file and the field at fault, in one line
        raise Failure(f"Sage Pro: {exc}", "check SAGEPRO_DATA_DIR (the folder holding ardata/) and SAGEPRO_COMPANY") \
            from None


ERPS = {
    "oracle": _Erp("Oracle Fusion", "ORACLE_FUSION_BASE_URL",
                   "ORACLE_FUSION_USERNAME and ORACLE_FUSION_PASSWORD (or the OAuth settings)",
                   _oracle_required, _oracle_url, _oracle_read),
    "sage": _Erp("Sage 300", "SAGE300_BASE_URL", "SAGE300_USERNAME and SAGE300_PASSWORD (a Web API user, upper case)",
                 lambda: ("SAGE300_USERNAME",), _sage_url, _sage_read),
    # Sage Pro: its tables, read only (no credentials; ARCUST's every column).
    "sagepro": _Erp("Sage Pro", "SAGEPRO_DATA_DIR", "the folder's permissions", lambda: ("SAGEPRO_DATA_DIR",),
                    lambda: _setting("SAGEPRO_DATA_DIR", ""), _sagepro_read),
}


# -- what went wrong, in one line -------------------------------------------------------------------------


def _mask(text: str) -> str:
    """``text`` as :func:`~paysync_dagster.cli.doctor.mask_secrets` gives it, card numbers masked too."""
    from paysync_dagster.cli.doctor import mask_secrets
    from paysync_dagster.lib.scrub import mask_card_numbers

    return mask_card_numbers(mask_secrets(text))[0]


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _refused(exc: BaseException) -> bool:
    return any(type(e).__name__ in ("OracleAuthError", "SageAuthError") or getattr(e, "http_status", None) in (401, 403)
               for e in _chain(exc))


def _unreachable(exc: BaseException) -> BaseException | None:
    """The error of a connection that never got an HTTP answer (refused, no route, DNS, timeout), if it is one."""
    import httpx

    for e in _chain(exc):
        if isinstance(e, (httpx.TransportError, OSError)):
            return e
    for e in _chain(exc):
        if type(e).__name__ in ("OracleTransportError", "SageTransportError", "RetriesExhausted") \
                and getattr(e, "http_status", None) in (None, 0):
            return e
    return None


def _explained(erp: _Erp, exc: Exception) -> Failure:
    url = _mask(erp.url())
    if _refused(exc):
        return Failure(f"{erp.title} at {url} refused the credentials", f"check {erp.credential_settings}")
    cause = _unreachable(exc)
    if cause is not None:
        return Failure(f"cannot reach {erp.title} at {url} ({_mask(f'{type(cause).__name__}: {cause}')})",
                       f"check {erp.url_setting} and that {erp.title} is running")
    return Failure(f"{erp.title} at {url} did not answer as {erp.title} does ({_mask(f'{type(exc).__name__}: {exc}')})",
                   f"check {erp.url_setting}")


@contextmanager
def _quiet() -> Iterator[None]:
    import logging

    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


# -- the file -----------------------------------------------------------------------------------------------


def _write(f: IO[str], accounts: list[dict[str, str]]) -> None:
    import csv

    from paysync_dagster.lib.scrub import mask_card_numbers

    writer = csv.writer(f, lineterminator="\n")
    writer.writerow(ERP_ACCOUNT_COLUMNS)
    for account in accounts:
        # Customer masters are typed by hand: a card number in a free-text field never reaches the file.
        writer.writerow([mask_card_numbers(str(account.get(c) or ""))[0] for c in ERP_ACCOUNT_COLUMNS])


@contextmanager
def _replacing(path: str) -> Iterator[IO[str]]:
    """A temporary file beside ``path``, renamed over it when the block ends without an error and
    removed otherwise: ``path`` is never left half-written."""
    import tempfile

    target = os.path.abspath(path)
    try:
        fd, temp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=f".{os.path.basename(target)}.",
                                    suffix=".tmp")
    except OSError as exc:
        raise Failure(f"{path}: cannot write there ({exc.strerror or exc})", "check the path and its permissions") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            yield f
        os.replace(temp, target)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


# -- the commands -------------------------------------------------------------------------------------------


@click.group(cls=Group, short_help="read from the ERPs")
def erp() -> None:
    """Read from the ERPs PaySync posts to, with the connection settings of this environment
    (ORACLE_FUSION_*, SAGE300_*; without a URL, the local sandbox's)."""


@erp.command(short_help="an ERP's customer accounts as CSV, for mapping suggest customers")
@click.option("--erp", "erp_name", type=click.Choice(sorted(ERPS)), required=True, help="the ERP to read")
@click.option("--out", "out", type=click.Path(dir_okay=False, allow_dash=True), required=True,
              help="the CSV file to write (replaced if it exists); - for standard output")
def customers(erp_name: str, out: str) -> None:
    """Write the ERP's customer accounts as CSV (UTF-8), one row per account, with the header
    account_number,name,email,phone,address_line1,address_line2,city,state,postal_code,country: the
    --erp file of `paysync mapping suggest customers`.

    Sage 300: every column, from AR/ARCustomers (address_line2 is AddressLine2 to 4 joined with ", ");
    the suspense customer of the mapping file (receipts.sage.suspense_customer) is left out.

    Oracle Fusion: account_number and name from receivablesCustomerAccountActivities, and address_line1
    the bill-to site's BillToSiteAddress (receivablesCustomerAccountSiteActivities), one line as Oracle
    writes it. email, phone, address_line2, city, state, postal_code and country stay empty: Oracle's
    Receivables REST API documents no field for them.

    Sage Pro: every column from ARCUST (custno, company, email, phone, address1/2, city, state, zip,
    country) in SAGEPRO_DATA_DIR, read only.

    Nothing is written when the ERP cannot be read: an existing file is left as it was.
    """
    spec = ERPS[erp_name]
    missing = [name for name in spec.required() if not os.environ.get(name)]
    if missing:
        raise Failure(f"{spec.title}: {', '.join(missing)} not set",
                      "set it in the environment or in the env file of PAYSYNC_ENV")

    def read() -> list[dict[str, str]]:
        with _quiet():
            try:
                return spec.read()
            except (click.ClickException, click.Abort):
                raise
            except Exception as exc:  # noqa: BLE001 - every failure to read becomes one line
                if type(exc).__name__ == "MappingError":
                    raise  # the mapping file's own line (errors.explain)
                raise _explained(spec, exc) from exc

    if out == STDOUT:
        accounts = read()
        _write(sys.stdout, accounts)
        sys.stdout.flush()
        click.echo(f"{len(accounts)} {spec.title} customer account(s) written to standard output", err=True)
        return
    with _replacing(out) as f:  # opened first: an unwritable path fails before the ERP is asked
        accounts = read()
        _write(f, accounts)
    click.echo(f"{len(accounts)} {spec.title} customer account(s) written to {out}")
