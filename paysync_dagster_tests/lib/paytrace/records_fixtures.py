"""An export record in the layout of PayTrace's transactions/export (spec §3.4), quirks included."""

import copy

EXPORT_RECORD = {
    "transaction_id": 1143,
    "credit_card": {"masked_number": "************5454", "expiration_month": 12, "expiration_year": 20},
    "transaction_type": "SALE",
    "description": "",
    "amount": 110,
    "invoice_id": "8888",
    "shipping_address": {"name": "", "street_address": "", "street_address2": "", "city": "", "county": "", "state": "", "zip": "", "country": ""},
    "billing_address": {"name": "Steve Smith", "street_address": "8320 E. West St.", "street_address2": "", "city": "Spokane", "state": "WA", "zip": "85284", "country": "US"},
    "receipt_emailed_to": "",
    "tax_amount": "8.10",
    "customer_reference_id": "",
    "approval_code": "TAS610",
    "approval_message": "  NO  MATCH - Approved and completed",
    "avs_response": "No Match",
    "csc_response": "",
    "status_code": "GB571",
    "status_message": "GB571",
    "created": {"through": "API", "at": "4/10/2015 4:06:30 PM", "by": "demo123", "from_ip": "10.1.1.1"},
    "settled": "",
    "customer_id": "",
}


def record(**changes) -> dict:
    rec = copy.deepcopy(EXPORT_RECORD)
    for path, value in changes.items():
        node = rec
        parts = path.split("__")
        for part in parts[:-1]:
            node = node[part]
        if value is ...:
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = value
    return rec
