"""Money from the ERPs out through PayTrace: card-on-file charges of invoices due, with their dunning.

Every effect goes through the posting ledger (intent before the call, a look-up before any resend)
and every failure through the exception queue, as the inbound path does."""
