"""Local simulator of the Sage 300 Web API (AR receipts and posting, GL, OE), served under
``/Sage300WebApi/v1.0/-/{COMPANY}/``.

``app`` (HTTP, order of checks), ``security`` (Basic auth, cookie sessions), ``odata`` (keys,
``$filter``/``$select``/paging), ``schema`` (entity types, strict payloads), ``wire`` (JSON with exact
decimals), ``errors`` (codes and statuses), ``resources`` (the resource table), ``state`` (store),
``batches`` (detail-row operations, lifecycle), ``customers``/``invoices``/``receipts``/``refunds``/
``documents``/``ledger``/``orders`` (resources), ``control`` (control API), ``seed`` (chart, banks,
PayTrace catalogue).
"""

from .app import API_PREFIX, CONTROL_PREFIX, SageSandbox, create_sage_app
from .errors import SageError
from .seed import seed_chart, seed_from_catalogue, seed_from_generator
from .state import DEFAULT_BANK, DEFAULT_COMPANY, DEFAULT_USERS, SageState

__all__ = ["API_PREFIX", "CONTROL_PREFIX", "DEFAULT_BANK", "DEFAULT_COMPANY", "DEFAULT_USERS", "SageError",
           "SageSandbox", "SageState", "create_sage_app", "seed_chart", "seed_from_catalogue", "seed_from_generator"]
