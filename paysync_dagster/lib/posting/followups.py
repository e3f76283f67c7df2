"""What happens after (or instead of) a receipt: declines, authorizations, voids, chargebacks, refunds.

- decline: no receipt; an exception with the issuer's reason.
- authorization not captured: skipped, nothing to post yet.
- void or chargeback: before the receipt was posted, nothing to do (skipped); after, one reversal
  of the receipt (category REV, reason VOID or CHARGEBACK) under ``<receipt>:REV``.
- refund (linked to its original by "Refund of transaction N"): a refund mark on the original
  receipt under ``<prefix><refund id>:RFND``; then, if the refunds now add up to the whole receipt,
  the receipt is reversed (reason REFUND); else the refunded cash is taken off the receipt's
  applications, last first, as far as what stays on account does not cover it (``...:RFND:ADJ:<target>``),
  so the invoices show again what is owed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from paysync_dagster.lib.outbound.refunds import made_for_erp
from paysync_dagster.lib.posting.erp import ErpReceipt, OutcomeUnknown, RejectedError, UnavailableError
from paysync_dagster.lib.posting.ledger import ADJUSTMENT, APPLICATION, REFUND, Entry
from paysync_dagster.lib.posting.poster import LIVE, Outcome, receipt_reference

if TYPE_CHECKING:
    from paysync_dagster.lib.posting.poster import Poster

REFUND_OF = re.compile(r"refund of transaction\s+#?(\d+)", re.IGNORECASE)


def follow_up(poster: Poster, p: Mapping[str, Any]) -> Outcome:
    kind, status = p["kind"], p["status"]
    out = Outcome(int(p["transaction_id"]), p["business_date"], kind, "skipped", int(p["amount_minor"]), p["currency"])
    try:
        made = made_for_erp(poster.ledger.engine, out.transaction_id, kind, poster.adapter.name) \
            if kind in ("refund", "void") else None
        if made:
            out.reason = made  # the ERP's own refund record asked for it: recorded there already
        elif kind == "decline":
            out.outcome, out.reason = "exception", f"declined by the card issuer ({p.get('paytrace_state')}): no receipt"
            out.exception = ("declined", f"PayTrace declined the payment: {p.get('description') or 'no description'}",
                             "nothing to post; ask the customer for another payment")
        elif kind == "authorization":
            out.reason = "authorized, not captured: nothing to post yet"
        elif kind == "void":
            _reverse_own(poster, p, out, "VOID", "voided in PayTrace")
        elif kind == "chargeback":
            _reverse_own(poster, p, out, "CHARGEBACK", f"card chargeback ({status})")
        elif kind == "refund" and status in LIVE:
            _refund(poster, p, out)
        else:
            out.reason = f"{kind} in status {status}: nothing to post"
    except RejectedError as exc:
        out.outcome, out.exception = "exception", poster.rejected_exception(exc)
        out.reason = out.exception[1]
    except (UnavailableError, OutcomeUnknown) as exc:
        out.outcome, out.exception = "exception", poster.unreachable_exception(exc)
        out.reason = out.exception[1]
    return out


def posted_receipt(poster: Poster, reference: str) -> Entry | None:
    """The receipt's ledger entry if the ERP holds it; an entry that may have been sent is looked up."""
    entry = poster.ledger.get(reference)
    if entry is None or entry.posted:
        return entry if entry is not None and entry.erp_id else None
    if entry.attempts == 0:
        return None  # never sent
    found = poster.adapter.find_receipts([reference]).get(reference)
    if found is None:
        return None
    poster.ledger.posted({reference: found.erp_id})
    entry.status, entry.erp_id = "posted", found.erp_id
    return entry


def _receipt(entry: Entry) -> ErpReceipt:
    return ErpReceipt(entry.erp_id or "", entry.reference, entry.amount_minor, entry.currency,
                      entry.detail.get("customer_account", ""))


def _reverse_own(poster: Poster, p: Mapping[str, Any], out: Outcome, reason_code: str, why: str) -> None:
    ref = receipt_reference(poster.rules, out.transaction_id)
    original = posted_receipt(poster, ref)
    if original is None:
        out.reason = f"{why} before a receipt was posted: nothing to reverse"
        return
    poster.reverse(original, p, "REV", reason_code)
    out.outcome, out.reason = "reversed", f"{why}: receipt {ref} reversed"
    out.reference, out.receipt_number = poster.reversal_reference(ref), ref
    out.erp_receipt_id, out.owns_receipt = original.erp_id or "", True
    out.match_rule = original.detail.get("rule", "")
    out.match_score = float(original.detail.get("score", 0.0))


def _refund(poster: Poster, p: Mapping[str, Any], out: Outcome) -> None:
    m = REFUND_OF.search(str(p.get("description") or ""))
    original = posted_receipt(poster, receipt_reference(poster.rules, int(m.group(1)))) if m else None
    if original is None:
        out.outcome, out.reason = "exception", "refund of a payment with no receipt in the ERP"
        out.exception = ("refund_without_receipt",
                         "the refunded payment has no receipt in the ERP (not posted yet, or not linked)",
                         "post the original payment's date first and replay, or record the refund by hand")
        return
    ledger, name = poster.ledger, poster.adapter.name
    ref = f"{receipt_reference(poster.rules, out.transaction_id)}:RFND"
    out.reference, out.receipt_number, out.erp_receipt_id = ref, original.reference, original.erp_id or ""
    prior = sum(e.amount_minor for e in ledger.entries(parents=[original.reference], actions=[REFUND])
                if e.reference != ref and e.posted)
    total = prior + out.amount_minor
    own = ledger.get(ref)
    reversal = ledger.get(poster.reversal_reference(original.reference))
    if total > original.amount_minor or (reversal is not None and reversal.posted and not (own and own.posted)):
        out.outcome = "exception"
        out.reason = ("refunds exceed the receipt" if total > original.amount_minor
                      else "the original receipt is already reversed")
        out.exception = ("refund_not_postable", f"{out.reason}: {original.reference}",
                         "record the refund in the ERP by hand and resolve this exception")
        return
    receipt = _receipt(original)
    full = total == original.amount_minor
    mark = Entry(name, ref, out.transaction_id, REFUND, p["business_date"], out.amount_minor, p["currency"],
                 erp_id=original.erp_id, parent_reference=original.reference,
                 detail={"original": original.reference, "full": full})
    poster.once(mark, lambda: poster.adapter.mark_refund(receipt, ref, out.amount_minor, "PayTrace refund"),
                lambda: ref in poster.adapter.refund_marks(receipt))
    out.outcome = "refunded"
    if full:
        poster.reverse(original, p, "REV", "REFUND")
        out.reason = f"refunds add up to the whole receipt: {original.reference} reversed"
        return
    if getattr(poster.adapter, "refunds_by_credit_note", False):
        out.reason = f"partial refund of {original.reference}: from its unapplied cash or a credit note; its invoices stay paid"
        return
    adjusted = _take_off_applications(poster, p, original, receipt, ref, original.amount_minor - total)
    out.invoices = ",".join(adjusted)
    out.reason = f"partial refund of {original.reference}" + (
        f": taken off {', '.join(adjusted)}" if adjusted else ": covered by what was on account")


def _take_off_applications(poster: Poster, p: Mapping[str, Any], original: Entry, receipt: ErpReceipt, ref: str,
                           allowed_minor: int) -> list[str]:
    """Reduce the receipt's applications (last first) until they total at most ``allowed_minor``."""
    ledger = poster.ledger
    # target -> (invoice, amount applied before this refund), in application order. This refund's own
    # adjustments are left out, so a redelivery plans exactly the same cuts (and finds them posted).
    current: dict[str, tuple[str, int]] = {}
    for e in ledger.entries(parents=[original.reference], actions=[APPLICATION, ADJUSTMENT]):
        if e.posted and e.detail.get("refund") != ref:
            current[e.detail["target"]] = (e.detail["invoice"], e.amount_minor)
    excess = sum(a for _, a in current.values()) - allowed_minor
    adjusted: list[str] = []
    for target, (invoice, amount) in reversed(list(current.items())):
        if excess <= 0:
            break
        cut = min(excess, amount)
        if cut <= 0:
            continue
        new = amount - cut
        entry = Entry(ledger.erp, f"{ref}:ADJ:{target}", int(p["transaction_id"]), ADJUSTMENT, p["business_date"], new,
                      p["currency"], erp_id=original.erp_id, parent_reference=original.reference,
                      detail={"invoice": invoice, "target": target, "from": amount, "to": new, "refund": ref})
        poster.once(entry, lambda t=target, n=new: poster.adapter.set_application(receipt, t, n),
                    lambda t=target, n=new: poster.adapter.applications(receipt).get(t, 0) == n)
        excess -= cut
        adjusted.append(invoice)
    return adjusted
