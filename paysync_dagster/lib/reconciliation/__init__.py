"""Reconciliation: PayTrace settlement batches against the ERP and the bank, to the cent (pure logic, no Dagster)."""
