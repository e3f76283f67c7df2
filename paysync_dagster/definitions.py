"""The PaySync code location: everything under ``defs/`` plus the resources for this environment."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from paysync_dagster.defs.alerts.resources import alerts_resource
from paysync_dagster.defs.erp.connectors import erps_on
from paysync_dagster.defs.oracle.resources import OracleFusionResource
from paysync_dagster.defs.paytrace.resources import PayTraceResource
from paysync_dagster.defs.sage.resources import Sage300Resource
from paysync_dagster.defs.sagepro.resources import SageProResource
from paysync_dagster.defs.shared.resources import WarehouseResource
from paysync_dagster.lib.settings import (DEFAULT_ORACLE_FUSION_BASE_URL, DEFAULT_PAYTRACE_BASE_URL,
                                          DEFAULT_SAGE300_BASE_URL, DEFAULT_SAGE300_COMPANY, load_environment)
from paysync_dagster.lib.warehouse import default_database_url



def _setting(name: str, default: str) -> str | dg.EnvVar:
    """A connection setting: from the environment when set (resolved at run time, hidden in the UI), else the local default."""
    return dg.EnvVar(name) if os.environ.get(name) else default


def _optional_secret(name: str) -> dg.EnvVar | None:
    """A secret that may be absent (OAuth instead of Basic, or the reverse): its EnvVar when set, else None."""
    return dg.EnvVar(name) if os.environ.get(name) else None


def oracle_resource() -> OracleFusionResource:
    """Basic auth (ORACLE_FUSION_USERNAME / _PASSWORD), or OAuth when ORACLE_FUSION_CLIENT_ID is set
    (with _CLIENT_SECRET, _PRIVATE_KEY as PEM, _TOKEN_URL; the user assertion names _USERNAME)."""
    return OracleFusionResource(
        base_url=_setting("ORACLE_FUSION_BASE_URL", DEFAULT_ORACLE_FUSION_BASE_URL),
        username=dg.EnvVar("ORACLE_FUSION_USERNAME"),
        password=_optional_secret("ORACLE_FUSION_PASSWORD"),
        oauth_client_id=_optional_secret("ORACLE_FUSION_CLIENT_ID"),
        oauth_client_secret=_optional_secret("ORACLE_FUSION_CLIENT_SECRET"),
        oauth_private_key_pem=_optional_secret("ORACLE_FUSION_PRIVATE_KEY"),
        oauth_token_url=_optional_secret("ORACLE_FUSION_TOKEN_URL"),
        application_method=_setting("ORACLE_FUSION_APPLICATION_METHOD", "apply_receipt"),
    )


def sage_resource() -> Sage300Resource:
    """The Sage 300 Web API of one company (SAGE300_BASE_URL up to the company, SAGE300_COMPANY),
    signed in as SAGE300_USERNAME with SAGE300_PASSWORD."""
    return Sage300Resource(
        base_url=_setting("SAGE300_BASE_URL", DEFAULT_SAGE300_BASE_URL),
        company=_setting("SAGE300_COMPANY", DEFAULT_SAGE300_COMPANY),
        username=dg.EnvVar("SAGE300_USERNAME"),
        password=_optional_secret("SAGE300_PASSWORD") or "",
    )


def sagepro_resource() -> SageProResource:
    return SageProResource(data_dir=_setting("SAGEPRO_DATA_DIR", ""), company=_setting("SAGEPRO_COMPANY", "01"))


# Each ERP's resource, by connector name (an ERP that is off needs none of its settings).
ERP_RESOURCES = {"oracle": oracle_resource, "sage": sage_resource, "sagepro": sagepro_resource}


def resources() -> dict[str, dg.ConfigurableResource]:
    out: dict[str, dg.ConfigurableResource] = {
        "warehouse": WarehouseResource(database_url=_setting("PAYSYNC_DATABASE_URL", default_database_url())),
        "paytrace": PayTraceResource(
            base_url=_setting("PAYTRACE_BASE_URL", DEFAULT_PAYTRACE_BASE_URL),
            username=dg.EnvVar("PAYTRACE_USERNAME"),
            password=dg.EnvVar("PAYTRACE_PASSWORD"),
            integrator_id=dg.EnvVar("PAYTRACE_INTEGRATOR_ID"),
        ),
        # Slack-compatible webhook and SMTP from PAYSYNC_ALERT_* (defs/alerts/resources.py).
        "alerts": alerts_resource(),
    }
    for c in erps_on():
        out[c.resource_key] = ERP_RESOURCES[c.name]()
    return out


@dg.definitions
def defs() -> dg.Definitions:
    # The env file of PAYSYNC_ENV first, so every setting read below (partitions, time zone, ERPs,
    # resources) sees it; the defs modules read theirs when first imported, which is here.
    load_environment()
    from paysync_dagster.defs.erp.factory import customer_account_keys
    from paysync_dagster.defs.shared.provenance import provenance

    loaded = dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        dg.Definitions(resources=resources()),
    )
    # Normalization reads the customer accounts of every ERP that is on: declared here, where it is known.
    customers = customer_account_keys()
    loaded = loaded.map_resolved_asset_specs(func=lambda spec: spec.merge_attributes(deps=customers),
                                             selection=dg.AssetSelection.assets("normalized_payments"))
    # The UI shows on every asset, and on the code location, which environment and mapping version it runs.
    shown = provenance()
    loaded = loaded.map_resolved_asset_specs(func=lambda spec: spec.merge_attributes(metadata=shown))
    return dg.Definitions.merge(loaded, dg.Definitions(metadata=shown))
