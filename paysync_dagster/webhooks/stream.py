"""A steady stream of live payments for the demo: real sales in the PayTrace sandbox, each announced
to the receiver by a signed webhook, as a storefront or gateway notification service would."""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timezone

import httpx

from paysync_dagster.lib.paytrace.client import PayTraceClient
from paysync_dagster.webhooks.signing import HEADER, sign

# PayTrace's published sandbox test cards; they only ever reach the local simulator.
_TEST_CARDS = ("4012000098765439", "5499740000000057", "6011000993026909", "371449635392376")


def envelope(event_type: str, record: dict) -> dict:
    return {
        "event_id": f"evt_{uuid.uuid4().hex}",
        "event_type": event_type,
        "occurred_at": datetime.now(timezone.utc).isoformat(),
        "transaction": record,
    }


def post_signed(client: httpx.Client, url: str, secret: str, event: dict) -> httpx.Response:
    body = json.dumps(event).encode()
    return client.post(url, content=body, headers={"Content-Type": "application/json", HEADER: sign(body, secret)})


def stream(paytrace: PayTraceClient, receiver_url: str, secret: str, stop: threading.Event, *, interval_s: float = 3.0,
           seed: int = 1, say: Callable[[str], None] = lambda _m: None) -> int:
    """Until ``stop`` is set: take a sale in the sandbox, send its webhook; now and then a decline or a void."""
    rng = random.Random(seed)
    sent = 0
    with httpx.Client(timeout=10) as http:
        while not stop.wait(interval_s):
            try:
                roll = rng.random()
                cents = 29 if roll < 0.05 else rng.randrange(1_500, 250_000)  # 0.29 declines in the sandbox
                card = rng.choice(_TEST_CARDS)
                answer = paytrace.sale_keyed(cents, card, 12, 2030, invoice_id=f"INV-{rng.randrange(1, 999):06d}",
                                             description="Online order")
                record = paytrace.export_transaction(answer["transaction_id"])
                if record is None:
                    continue
                event_type = "transaction.approved" if answer.get("success") else "transaction.declined"
                response = post_signed(http, receiver_url, secret, envelope(event_type, record))
                sent += 1
                say(f"webhook {event_type} for PayTrace {answer['transaction_id']}: HTTP {response.status_code}")
                if roll > 0.95 and answer.get("success"):
                    paytrace.void(answer["transaction_id"])
                    voided = paytrace.export_transaction(answer["transaction_id"])
                    if voided is not None:
                        response = post_signed(http, receiver_url, secret, envelope("transaction.voided", voided))
                        sent += 1
                        say(f"webhook transaction.voided for PayTrace {answer['transaction_id']}: HTTP {response.status_code}")
            except Exception as exc:  # noqa: BLE001 - the demo stream keeps going; the next tick tries again
                say(f"webhook stream: {type(exc).__name__}: {exc}")
    return sent
