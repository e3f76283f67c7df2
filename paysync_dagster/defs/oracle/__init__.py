"""Oracle Fusion Cloud ERP: open invoices and cash receipts (posting through the ERP-neutral ledger)."""
