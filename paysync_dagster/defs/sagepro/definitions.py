"""Sage Pro's assets, built by the shared ERP factory, in the code location when Sage Pro is on."""

import dagster as dg

from paysync_dagster.defs.erp.factory import erp_definitions


@dg.definitions
def defs() -> dg.Definitions:
    return erp_definitions("sagepro")
