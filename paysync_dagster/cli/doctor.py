"""``paysync doctor``: checks a configuration and says what to fix.

One line per check, ``OK`` or ``FIX: what to do`` (``--`` where the ERP does not offer what would be
checked, with why); exit 1 when anything needs fixing. The checks, in order: the settings PayTrace and
each ERP that is on (``PAYSYNC_ERPS``) need; each API reached with its credentials (short timeouts, no
retries); the mapping file, loaded as the pipeline loads it; the mapping's GL accounts, receipt method
and bank account in each ERP; the warehouse reachable and at this release's revision.

No secret is printed: a line names the setting, never its value, and whatever an API answers is
masked for every secret setting's value before it is shown.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from paysync_dagster.cli.errors import Command, Failure

if TYPE_CHECKING:
    from paysync_dagster.defs.erp.connectors import ErpConnector
    from paysync_dagster.lib.mapping import Mapping

OK, FIX, SKIPPED = "OK", "FIX", "--"
SECRET_SETTINGS = ("PAYTRACE_PASSWORD", "ORACLE_FUSION_PASSWORD", "ORACLE_FUSION_CLIENT_SECRET",
                   "ORACLE_FUSION_PRIVATE_KEY", "SAGE300_PASSWORD", "PAYSYNC_WEBHOOK_SECRET", "DAGSTER_PG_PASSWORD")
# A doctor answers quickly: a down API is reported, not waited for.
CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 15.0
OAUTH_SETTINGS = ("ORACLE_FUSION_CLIENT_SECRET", "ORACLE_FUSION_PRIVATE_KEY", "ORACLE_FUSION_TOKEN_URL")


@dataclass(frozen=True)
class Finding:
    status: str  # OK, FIX or --
    subject: str
    detail: str

    def line(self) -> str:
        return f"{self.status:<4}{self.subject}: {self.detail}"


def mask_secrets(text: str) -> str:
    """``text`` on one line, with every secret setting's value (and a URL's password) replaced by ***."""
    for name in SECRET_SETTINGS:
        value = os.environ.get(name)
        if value and len(value) >= 3:
            text = text.replace(value, "***")
    text = re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", text)
    return re.sub(r"\s*\n\s*", " ", text).strip()[:300]


def _said(exc: BaseException) -> str:
    return mask_secrets(f"{type(exc).__name__}: {exc}")


def _setting(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name) or default


def _missing(names: tuple[str, ...]) -> list[str]:
    return [n for n in names if not os.environ.get(n)]


def _settings_finding(subject: str, required: tuple[str, ...], shown: dict[str, str]) -> Finding:
    missing = _missing(required)
    if missing:
        return Finding(FIX, subject, f"set {', '.join(missing)} (in the environment or the env file of PAYSYNC_ENV)")
    return Finding(OK, subject, ", ".join([*(f"{k} {v}" for k, v in shown.items()),
                                           f"{', '.join(required)} set"]))


# -- PayTrace -------------------------------------------------------------------------------------------


def check_paytrace() -> Iterator[Finding]:
    from paysync_dagster.lib.settings import DEFAULT_PAYTRACE_BASE_URL
    from paysync_dagster.defs.paytrace.resources import PayTraceResource
    from paysync_dagster.lib.paytrace.errors import PayTraceAuthError, PayTraceError

    url = _setting("PAYTRACE_BASE_URL", DEFAULT_PAYTRACE_BASE_URL) or ""
    settings = _settings_finding("PayTrace settings",
                                 ("PAYTRACE_USERNAME", "PAYTRACE_PASSWORD", "PAYTRACE_INTEGRATOR_ID"),
                                 {"PAYTRACE_BASE_URL": url})
    yield settings
    if settings.status != OK:
        return
    resource = PayTraceResource(base_url=url, username=os.environ["PAYTRACE_USERNAME"],
                                password=os.environ["PAYTRACE_PASSWORD"],
                                integrator_id=os.environ["PAYTRACE_INTEGRATOR_ID"], connect_timeout_s=CONNECT_TIMEOUT_S,
                                read_timeout_s=READ_TIMEOUT_S, max_attempts=1)
    subject = "PayTrace API"
    try:
        with resource.client() as client:
            client.export_batch()  # needs an OAuth token: the credentials are checked, nothing is changed
    except PayTraceAuthError:
        yield Finding(FIX, subject, f"PayTrace refused the credentials at {url}: check PAYTRACE_USERNAME and "
                                    "PAYTRACE_PASSWORD (the API user's, not a web login's)")
    except PayTraceError as exc:
        if _unreachable(exc):
            yield Finding(FIX, subject, f"cannot reach {url} ({_said(_cause(exc))}): check PAYTRACE_BASE_URL")
        else:
            yield Finding(FIX, subject, f"{url} answered, but not as PayTrace does ({_said(exc)}): check "
                                        "PAYTRACE_BASE_URL (the API root, without /v1) and PAYTRACE_INTEGRATOR_ID")
    except Exception as exc:  # noqa: BLE001 - whatever went wrong is the finding
        yield Finding(FIX, subject, f"cannot reach {url} ({_said(exc)}): check PAYTRACE_BASE_URL")
    else:
        yield Finding(OK, subject, f"{url} issued an OAuth token for PAYTRACE_USERNAME")


def _cause(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def _unreachable(exc: BaseException) -> bool:
    """A connection that never got an HTTP answer (refused, no route, DNS, timeout)."""
    import httpx

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (httpx.TransportError, OSError)):
            return True
        if type(seen).__name__ in ("PayTraceTransportError", "OracleTransportError", "SageTransportError",
                                   "RetriesExhausted") and getattr(seen, "http_status", None) in (None, 0):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


# -- the ERPs ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErpCheck:
    """What the doctor needs of one ERP: its settings, how to reach it, and what to look up there."""

    title: str
    url_setting: str
    credential_settings: str  # named in the FIX line when the ERP refuses the credentials
    settings: Callable[[], Finding]
    resource: Callable[[], Any]
    probe: Callable[[Any], str]  # a cheap authenticated GET; what it found
    lookups: Callable[[Any, Mapping], Iterator[Finding]]  # receipt method, bank account, ...


def _oracle_settings() -> Finding:
    from paysync_dagster.lib.settings import DEFAULT_ORACLE_FUSION_BASE_URL

    url = _setting("ORACLE_FUSION_BASE_URL", DEFAULT_ORACLE_FUSION_BASE_URL) or ""
    if os.environ.get("ORACLE_FUSION_CLIENT_ID"):
        return _settings_finding("Oracle Fusion settings", ("ORACLE_FUSION_USERNAME", "ORACLE_FUSION_CLIENT_ID",
                                                            *OAUTH_SETTINGS),
                                 {"ORACLE_FUSION_BASE_URL": url, "auth": "OAuth"})
    return _settings_finding("Oracle Fusion settings", ("ORACLE_FUSION_USERNAME", "ORACLE_FUSION_PASSWORD"),
                             {"ORACLE_FUSION_BASE_URL": url, "auth": "Basic"})


def oracle_resource_from_env(**limits: Any) -> Any:
    """The Oracle Fusion resource from the ``ORACLE_FUSION_*`` settings (Basic or OAuth; the local sandbox
    without a URL), for a command: ``limits`` are its timeouts and retries (the doctor's by default)."""
    from paysync_dagster.lib.settings import DEFAULT_ORACLE_FUSION_BASE_URL
    from paysync_dagster.defs.oracle.resources import OracleFusionResource

    return OracleFusionResource(
        base_url=_setting("ORACLE_FUSION_BASE_URL", DEFAULT_ORACLE_FUSION_BASE_URL),
        username=os.environ["ORACLE_FUSION_USERNAME"], password=os.environ.get("ORACLE_FUSION_PASSWORD"),
        oauth_client_id=os.environ.get("ORACLE_FUSION_CLIENT_ID"),
        oauth_client_secret=os.environ.get("ORACLE_FUSION_CLIENT_SECRET"),
        oauth_private_key_pem=os.environ.get("ORACLE_FUSION_PRIVATE_KEY"),
        oauth_token_url=os.environ.get("ORACLE_FUSION_TOKEN_URL"),
        **{"connect_timeout_s": CONNECT_TIMEOUT_S, "read_timeout_s": READ_TIMEOUT_S, "max_attempts": 1, **limits})


def _oracle_probe(client: Any) -> str:
    client.page("/standardReceipts", {"limit": 1, "onlyData": "true"})
    return "standardReceipts answered"


def _oracle_lookups(client: Any, mapping: Mapping) -> Iterator[Finding]:
    from paysync_dagster.lib.oracle.errors import OracleNotFound

    r = mapping.receipts
    for subject, resource, fields, wanted, key in (
            ("receipt method", "/receiptMethods", ("ReceiptMethodName", "Name"), r.receipt_method,
             "receipts.receipt_method"),
            ("remittance bank account", "/cashBankAccounts", ("BankAccountName", "BankAccountNumber"),
             r.remittance_bank_account, "receipts.remittance_bank_account")):
        try:
            rows = client.list_items(resource, {"onlyData": "true"})
        except OracleNotFound:
            yield Finding(SKIPPED, f"Oracle Fusion {subject}",
                          f"{wanted!r} not checked: this Oracle Fusion does not offer {resource.lstrip('/')}; "
                          "a wrong one is refused when a receipt is posted")
            continue
        if any(str(row.get(f) or "").strip() == wanted for row in rows for f in fields):
            yield Finding(OK, f"Oracle Fusion {subject}", f"{wanted!r} exists")
        else:
            yield Finding(FIX, f"Oracle Fusion {subject}",
                          f"{wanted!r} is not among Oracle's {len(rows)} {resource.lstrip('/')}: "
                          f"correct {key} in {_mapping_file()} or set it up in Oracle")


def _sage_settings() -> Finding:
    from paysync_dagster.lib.settings import DEFAULT_SAGE300_BASE_URL, DEFAULT_SAGE300_COMPANY

    return _settings_finding("Sage 300 settings", ("SAGE300_USERNAME",), {
        "SAGE300_BASE_URL": _setting("SAGE300_BASE_URL", DEFAULT_SAGE300_BASE_URL) or "",
        "SAGE300_COMPANY": _setting("SAGE300_COMPANY", DEFAULT_SAGE300_COMPANY) or ""})


def sage_resource_from_env(**limits: Any) -> Any:
    """The Sage 300 resource from the ``SAGE300_*`` settings (the local sandbox without a URL), for a
    command: ``limits`` are its timeouts and retries (the doctor's by default)."""
    from paysync_dagster.lib.settings import DEFAULT_SAGE300_BASE_URL, DEFAULT_SAGE300_COMPANY
    from paysync_dagster.defs.sage.resources import Sage300Resource

    return Sage300Resource(base_url=_setting("SAGE300_BASE_URL", DEFAULT_SAGE300_BASE_URL),
                           company=_setting("SAGE300_COMPANY", DEFAULT_SAGE300_COMPANY),
                           username=os.environ["SAGE300_USERNAME"], password=os.environ.get("SAGE300_PASSWORD") or "",
                           **{"connect_timeout_s": CONNECT_TIMEOUT_S, "timeout_s": READ_TIMEOUT_S, "max_attempts": 1,
                              **limits})


def _sage_probe(client: Any) -> str:
    client.list_customers(select="CustomerNumber", top=1)
    return f"company {client.company} answered"


def _sage_lookups(client: Any, mapping: Mapping) -> Iterator[Finding]:
    from paysync_dagster.lib.sage.errors import SageNotFound

    o = mapping.receipts.sage
    wanted = [("bank", "BK/BKBanks", o.bank_code, "receipts.sage.bank_code"),
              ("payment code", "AR/ARPaymentCodes", o.payment_code, "receipts.sage.payment_code"),
              ("suspense customer", "AR/ARCustomers", o.suspense_customer, "receipts.sage.suspense_customer")]
    for subject, entity_set, value, key in wanted:
        if not value:
            continue
        try:
            client.list(entity_set, top=1)
        except SageNotFound:
            yield Finding(SKIPPED, f"Sage 300 {subject}", f"{value!r} not checked: this Sage 300 Web API does not "
                                                          f"offer {entity_set}; a wrong one is refused when a batch "
                                                          "is created")
            continue
        if client.find_entity(entity_set, value) is None:
            yield Finding(FIX, f"Sage 300 {subject}", f"{value!r} does not exist in Sage ({entity_set}): correct {key} "
                                                      f"in {_mapping_file()} or set it up in Sage")
        else:
            yield Finding(OK, f"Sage 300 {subject}", f"{value!r} exists")


ERP_CHECKS = {
    "oracle": ErpCheck("Oracle Fusion", "ORACLE_FUSION_BASE_URL",
                       "ORACLE_FUSION_USERNAME and ORACLE_FUSION_PASSWORD (or the OAuth settings)",
                       _oracle_settings, oracle_resource_from_env, _oracle_probe, _oracle_lookups),
    "sage": ErpCheck("Sage 300", "SAGE300_BASE_URL",
                     "SAGE300_USERNAME and SAGE300_PASSWORD (a Web API user, upper case)",
                     _sage_settings, sage_resource_from_env, _sage_probe, _sage_lookups),
}


def _refused(exc: BaseException) -> bool:
    return type(exc).__name__ in ("OracleAuthError", "SageAuthError") or getattr(exc, "http_status", None) in (401, 403)


def check_sagepro(c: ErpConnector) -> Iterator[Finding]:
    """Sage Pro: the data folder is set, and each table PaySync reads is there with the fields it reads
    (read-only, like every PaySync read of it)."""
    from pathlib import Path

    from paysync_dagster.lib.sagepro.reader import SageProError, SageProReader

    folder = os.environ.get("SAGEPRO_DATA_DIR", "").strip()
    if not folder:
        yield Finding(FIX, f"{c.title} settings", "SAGEPRO_DATA_DIR is not set: the Sage Pro data folder (holding "
                                                  "ardata/ and sodata/), a read-only share or a copy")
        return
    company = os.environ.get("SAGEPRO_COMPANY", "").strip() or "01"
    yield Finding(OK, f"{c.title} settings", f"SAGEPRO_DATA_DIR {folder}, company {company}")
    try:
        reader = SageProReader(Path(folder), company)
        tables = {"customers": reader.customers, "open invoices": reader.open_invoices,
                  "invoice lines": reader.invoice_lines, "sales orders": reader.sales_orders,
                  "cash receipts": reader.cash_receipts}
        counts = {what: sum(1 for _ in read()) for what, read in tables.items()}
    except (SageProError, ValueError) as exc:
        yield Finding(FIX, f"{c.title} tables", str(exc))
        return
    yield Finding(OK, f"{c.title} tables", ", ".join(f"{n} {what}" for what, n in counts.items()) + " (read only)")


def check_erp(c: ErpConnector, mapping: Mapping | None) -> Iterator[Finding]:
    if c.keyed_by_hand:
        yield from check_sagepro(c)
        return
    spec = ERP_CHECKS.get(c.name)
    if spec is None:
        yield Finding(SKIPPED, c.title, "the doctor has no checks for this ERP yet")
        return
    settings = spec.settings()
    yield settings
    if settings.status != OK:
        return
    subject = f"{spec.title} API"
    url = _setting(spec.url_setting) or "the local sandbox's default URL"
    try:
        resource = spec.resource()
        with resource.client() as client:
            try:
                found = spec.probe(client)
            except Exception as exc:  # noqa: BLE001 - the finding says what went wrong
                if _refused(exc):
                    yield Finding(FIX, subject,
                                  f"{spec.title} refused the credentials: check {spec.credential_settings}")
                elif _unreachable(exc):
                    yield Finding(FIX, subject, f"cannot reach {url} ({_said(_cause(exc))}): check {spec.url_setting}")
                else:
                    yield Finding(FIX, subject, f"{url} did not answer as {spec.title} does ({_said(exc)}): "
                                                f"check {spec.url_setting}")
                return
            yield Finding(OK, subject, f"{found} for the configured user")
            if mapping is not None:
                yield from _gl_accounts(c, spec, resource, client, mapping)
                yield from spec.lookups(client, mapping)
    except Exception as exc:  # noqa: BLE001 - e.g. an OAuth key that does not load
        yield Finding(FIX, subject, f"cannot set up the client ({_said(exc)}): check the {spec.title} settings")


def _gl_accounts(c: ErpConnector, spec: ErpCheck, resource: Any, client: Any, mapping: Mapping) -> Iterator[Finding]:
    """The mapping's GL accounts against the ERP's chart, where the ERP offers one (the same check as
    the open-invoices asset's ``mapping_gl_accounts_in_erp``), else against the account format."""
    from paysync_dagster.lib.mapping import check_gl_accounts
    from paysync_dagster.lib.posting.erp import ChartOfAccounts

    adapter = resource.adapter(client, mapping)
    chart = adapter.gl_accounts() if isinstance(adapter, ChartOfAccounts) else None
    problems = check_gl_accounts(mapping, c.name, chart)
    subject = f"{spec.title} GL accounts"
    for problem in problems:
        yield Finding(FIX, subject, f"{problem}: correct it in the mapping file or add the account in {spec.title}")
    if not problems:
        yield Finding(OK, subject, f"every GL account of the mapping is in {spec.title}'s chart ({len(chart)} accounts)"
                      if chart is not None else
                      f"every GL account of the mapping fits the account format ({spec.title} does not offer its "
                      "chart of accounts over its API)")


# -- the mapping file and the warehouse -----------------------------------------------------------------


def _mapping_file() -> str:
    from paysync_dagster.lib.mapping import mapping_path

    return str(mapping_path())


def check_mapping() -> tuple[Finding, Mapping | None]:
    from paysync_dagster.lib.mapping import load_mapping, version_label

    try:
        mapping = load_mapping()
    except Exception as exc:  # noqa: BLE001 - MappingError, an unreadable file, a bad PAYSYNC_ENV
        path = os.environ.get("PAYSYNC_MAPPING_FILE") or "the mapping file"
        return Finding(FIX, "mapping file", f"{mask_secrets(str(exc))} (fix {path}, or point PAYSYNC_MAPPING_FILE at "
                                            "a valid one)"), None
    return Finding(OK, "mapping file", f"{_mapping_file()} is valid (version {version_label(mapping)})"), mapping


def check_warehouse() -> Finding:
    from paysync_dagster.lib.warehouse.engine import default_database_url, make_engine, redact_url
    from paysync_dagster.lib.warehouse.migrations import head, read_revision

    url = default_database_url()
    shown = redact_url(url)
    try:
        engine = make_engine(url)
    except Exception as exc:  # noqa: BLE001 - a malformed URL or a missing driver
        return Finding(FIX, "warehouse", f"{shown} cannot be used ({_said(exc)}): check PAYSYNC_DATABASE_URL")
    try:
        revision = read_revision(engine)
    except Exception as exc:  # noqa: BLE001 - unreachable, refused, no such database
        return Finding(FIX, "warehouse", f"cannot reach {shown} ({_said(_cause(exc))}): check PAYSYNC_DATABASE_URL")
    finally:
        engine.dispose()
    latest = head()
    if revision == latest:
        return Finding(OK, "warehouse", f"{shown} at revision {latest} (this release's)")
    return Finding(FIX, "warehouse", f"{shown} is at revision {revision or 'none (empty)'}, this release needs "
                                     f"{latest}: run `paysync db upgrade`")


def run_checks() -> Iterator[Finding]:
    """Every check, in order, as it completes."""
    yield from check_paytrace()
    try:
        from paysync_dagster.defs.erp.connectors import erps_on

        erps = erps_on()
    except Exception as exc:  # noqa: BLE001 - ErpSettingError says what is wrong
        erps = []
        yield Finding(FIX, "ERPs", f"{mask_secrets(str(exc))}: set PAYSYNC_ERPS to a comma list of them")
    else:
        yield Finding(OK, "ERPs", f"PAYSYNC_ERPS: {', '.join(c.title for c in erps)}")
    mapping_finding, mapping = check_mapping()
    yield mapping_finding
    for c in erps:
        yield from check_erp(c, mapping)
    yield check_warehouse()


@click.command(cls=Command, short_help="check the configuration and say what to fix")
def doctor() -> None:
    """Check this configuration and say what to fix: one line per check, OK or FIX with what to do.

    Checks the settings PayTrace and each ERP that is on (PAYSYNC_ERPS) need, reaches each API with its
    credentials, loads the mapping file as the pipeline does, looks up the mapping's GL accounts,
    receipt method and bank account in each ERP, and checks that the warehouse is reachable and at this
    release's revision. Exits 1 when something needs fixing. Never prints a secret.
    """
    import logging

    # A failed attempt is a finding here, not a warning for the log: the line per check says it.
    logging.getLogger("paysync.http").setLevel(logging.ERROR)
    to_fix = 0
    for finding in run_checks():
        click.echo(finding.line())
        to_fix += finding.status == FIX
    if to_fix:
        raise Failure(f"{to_fix} check{'s' if to_fix > 1 else ''} to fix", "see the FIX lines above")
    click.echo("Everything checked is in order.")
