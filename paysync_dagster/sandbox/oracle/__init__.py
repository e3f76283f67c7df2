"""Local simulator of the Oracle Fusion Cloud ERP REST API (receivables, order hub, batch, OAuth).

``app`` (HTTP, assumptions), ``rest`` (framework conventions), ``query`` (q/orderBy/fields),
``state`` (store), ``receipts``/``invoices``/``credit_memos``/``activities``/``orders`` (resources),
``security`` (Basic, OAuth token endpoint, bearer tokens), ``control`` (control API), ``seed`` (catalogue
seeding, credit memos).
"""

from .app import CONTROL_PREFIX, VERSION, OracleSandbox, create_oracle_app
from .control import dump
from .security import OAuthServerConfig
from .seed import SeedSpec, add_credit_memo, seed_from_catalogue, seed_from_generator
from .state import ApiError, OracleState

__all__ = ["ApiError", "CONTROL_PREFIX", "OAuthServerConfig", "OracleSandbox", "OracleState", "SeedSpec", "VERSION",
           "add_credit_memo", "create_oracle_app", "dump", "seed_from_catalogue", "seed_from_generator"]
