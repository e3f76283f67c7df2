"""Local simulator of the PayTrace JSON API v1: app (HTTP), state (store), generator (history)."""

from .app import create_app
from .generator import customer_catalogue, generate, open_invoices
from .state import FakeClock, HistorySpec, PayTraceState

__all__ = ["create_app", "customer_catalogue", "generate", "open_invoices", "FakeClock", "HistorySpec", "PayTraceState"]
