"""Money and customers from the ERPs out through PayTrace: card-on-file charges of invoices due, with their
dunning; the customer vault sync; ERP-initiated card refunds.

Every effect goes through the posting ledger (intent before the call, a look-up before any resend)
and every failure through the exception queue, as the inbound path does."""
