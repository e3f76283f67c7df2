"""A local stand-in of a Sage Pro company (the retired Visual FoxPro ERP, spec ``sage_pro.md`` §5), for
testing PaySync's read-only Sage Pro connector. It is never pointed at a merchant's data.

- :func:`write_company` writes the company's Visual FoxPro free tables (``ardata/arcust01.dbf``,
  ``armast01``, ``artran01``, ``arcash01``, ``arymst01``, ``sodata/somast01.dbf``, ``sysdata.dbf``),
  seeded from the PayTrace generator like the other ERP sandboxes (:mod:`.seed`), layouts in :mod:`.tables`.
- :func:`key_worksheet` plays the clerk who keys PaySync's keying worksheet into it (:mod:`.keying`).

No CDX index files are written: the stand-in does not test index upkeep (spec §5), nor anything else
only a real Sage Pro install can prove (record locks, AR sessions, ARDIST/GL, SYSDATA totals).
"""

from __future__ import annotations

from .keying import COLUMNS, key_worksheet, read_worksheet
from .seed import StandInSpec, write_company
from .tables import StandInError

__all__ = ["COLUMNS", "StandInError", "StandInSpec", "key_worksheet", "read_worksheet", "write_company"]
