"""The Sage 300 Web API as a Dagster resource: its client, posting adapter and reader for the shared
ERP layer (nothing is read at import)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import httpx
from pydantic import Field

from paysync_dagster.lib.http import RetryPolicy
from paysync_dagster.lib.mapping import Mapping, gl_account_for
from paysync_dagster.lib.sage.adapter import SageAdapter, SageReceiptSettings
from paysync_dagster.lib.sage.client import Sage300Client
from paysync_dagster.lib.sage.reader import SageReceiptReader
from paysync_dagster.lib.timeutil import business_date, utcnow


class Sage300Resource(dg.ConfigurableResource):
    """Sage 300 Web API of one company (spec ``sage300_webapi.md`` §5, "PaySync's settings").

    ``base_url`` is everything before the company, version and tenant included
    (``https://sage.example.com/Sage300WebApi/v1.0/-``, ``SAGE300_BASE_URL``); ``company`` the Sage org
    id (``SAGE300_COMPANY``, e.g. SAMLTD); ``username``/``password`` a Sage 300 user with Web API access
    (``SAGE300_USERNAME``/``SAGE300_PASSWORD``; Sage expects the user name in upper case, and ADMIN has
    no Web API access unless the site allows it). Wire the secrets with ``dg.EnvVar`` so they never
    appear in code, logs or the UI. Reads are retried on 5xx, 429 (honouring ``Retry-After``) and
    timeouts; writes are not repeated once they may have reached Sage (the posting ledger looks
    them up first).
    """

    base_url: str = Field(description="Web API URL up to the company: https://host/Sage300WebApi/v1.0/-")
    company: str = Field(description="Sage 300 company (org id), e.g. SAMLTD")
    username: str = Field(description="Sage 300 user with Web API access (upper case)")
    password: str = Field(default="", description="the user's password (empty when the system database has security off)")
    connect_timeout_s: float = Field(default=5.0, description="seconds to open a connection")
    timeout_s: float = Field(default=60.0, description="seconds to wait for an answer or to send a body (posting a "
                                                       "batch can be slow)")
    max_attempts: int = Field(default=6, description="attempts per request before giving up (reads; writes are looked up)")
    base_delay_s: float = Field(default=0.5, description="first wait between attempts; doubles each time")
    max_delay_s: float = Field(default=30.0, description="longest wait between attempts")
    max_retry_after_s: float = Field(default=120.0, description="longest Retry-After honoured before retrying")
    batch_size: int = Field(default=50, description="receipt numbers asked for in one look-up request")

    @contextmanager
    def client(self) -> Iterator[Sage300Client]:
        """A client for the duration of the block (one cookie session, closed afterwards)."""
        timeout = httpx.Timeout(self.timeout_s, connect=self.connect_timeout_s)
        retry = RetryPolicy(max_attempts=self.max_attempts, base_delay_s=self.base_delay_s,
                            max_delay_s=self.max_delay_s, max_retry_after_s=self.max_retry_after_s)
        with Sage300Client(self.base_url, self.company, self.username, self.password, timeout=timeout,
                           retry=retry) as client:
            yield client

    def adapter(self, client: Sage300Client, mapping: Mapping) -> SageAdapter:
        """The posting adapter with the mapping file's Sage settings (``receipts.sage``); applications
        made after a batch is posted are dated today in the merchant's time zone."""
        return SageAdapter(client, receipt_settings(mapping), batch_size=self.batch_size,
                           today=lambda: business_date(utcnow(), mapping.merchant_time_zone))

    def reader(self, client: Sage300Client, mapping: Mapping) -> SageReceiptReader:
        """What reconciliation reads back: PaySync's receipts in Sage (unposted and posted) and refunds."""
        return SageReceiptReader(client, receipt_settings(mapping), batch_size=self.batch_size)


def receipt_settings(mapping: Mapping) -> SageReceiptSettings:
    o = mapping.receipts.sage
    return SageReceiptSettings(bank_code=o.bank_code, payment_code=o.payment_code or None,
                               suspense_customer=o.suspense_customer, batch_prefix=o.batch_prefix,
                               post_after_run=o.post_batches == "after_each_run",
                               credit_note_account=refund_account(mapping))


def refund_account(mapping: Mapping) -> str:
    """The Sage account the GL rules give a refund (the first rule for kind refund, else the default):
    the revenue account of the credit note a card refund of invoiced cash draws on."""
    rules = mapping.gl_accounts
    rule = next((r for r in rules.rules if r.when.kind == "refund"), None)
    return gl_account_for(mapping, "sage", rule.account if rule is not None else rules.default)
