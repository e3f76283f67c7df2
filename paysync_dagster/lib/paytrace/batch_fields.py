"""The JSON shape of PayTrace v1 settlement-batch records: the one place that assumes it.

PayTrace publishes the paths (``/v1/batches/export``, ``/v1/batches/export_one``,
``/v1/batches/transaction_list``) but not the field names of their JSON records. The legacy
name/value API documented the contents (BATCHNUM, WHEN, TRANXCOUNT, NETAMOUNT, SALESCOUNT,
SALESAMOUNT, REFUNDCOUNT, REFUNDAMOUNT, and per card brand the same four counts and amounts), and a
public v1 client reads ``response.batch.number``. PaySync mirrors the legacy names in snake_case.
The sandbox serves exactly these names and the client parses exactly these names; if a merchant's
account answers otherwise, this module is what changes.

Response envelopes (success fields as on every v1 export: ``success``, ``response_code`` 1,
``status_message``, ``external_transaction_id``):

- ``batches/export`` (``start_date``, ``end_date`` as ``MM/DD/YYYY``) -> ``{"batches": [BATCH, ...]}``
- ``batches/export_one`` (``batch_number`` optional; omitted = the open batch) -> ``{"batch": BATCH}``
- ``batches/transaction_list`` (``batch_number``) -> ``{"batch": BATCH, "transactions": [EXPORT_RECORD, ...]}``
  where each transaction is a record in the ``transactions/export`` layout.

BATCH:
"""

from __future__ import annotations

# field name -> (legacy name, meaning). Amounts are JSON numbers in dollars, as ``amount`` is on
# transaction exports; counts are integers; ``created`` uses the export timestamp format
# (``M/D/YYYY h:mm:ss AM|PM``, merchant time zone, no marker).
BATCH_FIELDS: dict[str, tuple[str, str]] = {
    "number": ("BATCHNUM", "batch number, an integer"),
    "created": ("WHEN", "when the batch closed"),
    "transaction_count": ("TRANXCOUNT", "settled transactions in the batch"),
    "net_amount": ("NETAMOUNT", "sales amount minus refund amount"),
    "sales_count": ("SALESCOUNT", "settled sales and captures"),
    "sales_amount": ("SALESAMOUNT", "their total"),
    "refund_count": ("REFUNDCOUNT", "settled refunds"),
    "refund_amount": ("REFUNDAMOUNT", "their total, a positive number"),
    "card_types": ("per-brand rows", "list of CARD_TYPE rows, one per brand present"),
}

# One row of ``card_types``: the legacy single-batch export broke the four figures down per brand.
CARD_TYPE_FIELDS: dict[str, tuple[str, str]] = {
    "card_type": ("VISA|MASTERCARD|AMEX|DISCOVER|DINERS|JCB|PRIVATE", "card brand"),
    "sales_count": ("SALESCOUNT", ""),
    "sales_amount": ("SALESAMOUNT", ""),
    "refund_count": ("REFUNDCOUNT", ""),
    "refund_amount": ("REFUNDAMOUNT", ""),
}

CARD_TYPES = ("VISA", "MASTERCARD", "AMEX", "DISCOVER", "DINERS", "JCB", "PRIVATE")
