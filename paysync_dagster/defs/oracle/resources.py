"""The Oracle Fusion Cloud ERP REST API as a Dagster resource."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import httpx
from pydantic import Field

from paysync_dagster.lib.http import RetryPolicy
from paysync_dagster.lib.mapping import Mapping
from paysync_dagster.lib.oracle.adapter import OracleAdapter, ReceiptSettings
from paysync_dagster.lib.oracle.auth import DEFAULT_SCOPE, OAuthSettings
from paysync_dagster.lib.oracle.client import OracleFusionClient
from paysync_dagster.lib.oracle.reader import OracleReceiptReader


class OracleFusionResource(dg.ConfigurableResource):
    """Oracle Fusion Cloud ERP REST (``https://<pod>.fa.<dc>.oraclecloud.com`` in production).

    Authentication is Basic (``username``/``password`` of a Fusion integration user) or, when
    ``oauth_client_id`` is set, OAuth 2.0 with a JWT user assertion for ``username``, signed with
    ``oauth_private_key_pem`` and exchanged at ``oauth_token_url``. Wire every secret with
    ``dg.EnvVar`` (``ORACLE_FUSION_*``) so it never appears in code, logs or the UI. Reads are retried
    on 5xx, 429 and timeouts; writes are not repeated blindly (the posting ledger looks them up first).
    """

    base_url: str = Field(description="Fusion pod URL, without /fscmRestApi")
    username: str = Field(description="Fusion user (Basic auth, or the subject of the OAuth user assertion)")
    password: str | None = Field(default=None, description="Fusion user's password (Basic auth)")
    oauth_client_id: str | None = Field(default=None, description="OAuth confidential app client id; set to use OAuth")
    oauth_client_secret: str | None = Field(default=None, description="OAuth client secret")
    oauth_private_key_pem: str | None = Field(default=None, description="PEM private key that signs the user assertion")
    oauth_token_url: str | None = Field(default=None, description="identity domain token endpoint, .../oauth2/v1/token")
    oauth_scope: str = Field(default=DEFAULT_SCOPE, description="OAuth scope (the Fusion app's audience + consumer::all)")
    framework_version: int = Field(default=4, description="REST-Framework-Version header")
    connect_timeout_s: float = Field(default=5.0, description="seconds to open a connection")
    read_timeout_s: float = Field(default=60.0, description="seconds to wait for an answer")
    max_attempts: int = Field(default=6, description="attempts per request before giving up (reads; writes are looked up)")
    base_delay_s: float = Field(default=0.5, description="first wait between attempts; doubles each time")
    max_delay_s: float = Field(default=30.0, description="longest wait between attempts")
    batch_size: int = Field(default=50, description="receipts created or looked up per batch request; 1 = no batching")
    batch_actions: bool | None = Field(
        default=None, description="applyReceipt in batch requests: true, false, or null = find out on the first batch")
    application_method: str = Field(
        default="apply_receipt",
        description="how cash is applied: apply_receipt (the applyReceipt action, at once; 26c+ pods) or "
                    "remittance_reference (references sent with the receipt, applied by Oracle's AutoMatch "
                    "process: one call per receipt)")

    def _oauth(self) -> OAuthSettings | None:
        if not self.oauth_client_id:
            return None
        if not (self.oauth_client_secret and self.oauth_private_key_pem and self.oauth_token_url):
            raise dg.Failure("OAuth needs ORACLE_FUSION_CLIENT_SECRET, ORACLE_FUSION_PRIVATE_KEY and ORACLE_FUSION_TOKEN_URL")
        # A PEM in an environment variable often arrives with its newlines written as \n.
        pem = self.oauth_private_key_pem.replace("\\n", "\n")
        return OAuthSettings(token_url=self.oauth_token_url, client_id=self.oauth_client_id,
                             client_secret=self.oauth_client_secret, username=self.username, private_key_pem=pem,
                             scope=self.oauth_scope)

    @contextmanager
    def client(self) -> Iterator[OracleFusionClient]:
        timeout = httpx.Timeout(self.read_timeout_s, connect=self.connect_timeout_s)
        retry = RetryPolicy(max_attempts=self.max_attempts, base_delay_s=self.base_delay_s, max_delay_s=self.max_delay_s)
        oauth = self._oauth()
        with OracleFusionClient(self.base_url, username=None if oauth else self.username,
                                password=None if oauth else (self.password or ""), oauth=oauth,
                                framework_version=self.framework_version, timeout=timeout, retry=retry) as client:
            yield client

    def adapter(self, client: OracleFusionClient, mapping: Mapping) -> OracleAdapter:
        """The posting adapter with the mapping file's receipt method, business unit and bank account."""
        r = mapping.receipts
        return OracleAdapter(client, ReceiptSettings(r.receipt_method, r.business_unit, r.remittance_bank_account),
                             batch_size=self.batch_size, batch_actions=self.batch_actions,
                             application_method=self.application_method)

    def reader(self, client: OracleFusionClient, mapping: Mapping) -> OracleReceiptReader:
        """What reconciliation reads back: the receipts Oracle holds now under PaySync's numbers, with their refunds."""
        return OracleReceiptReader(client, batch_size=self.batch_size)
