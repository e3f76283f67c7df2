"""Sage Pro's tables as PaySync reads them (spec ``sage_pro.md`` §1): where each file is under the data
folder, and the fields read, by name. A site's other columns (every installation is customised) and
other widths are fine: PaySync reads by field name, and a table or field it needs that is missing is an
error naming the file and the field.

Files are ``<folder>/<table><company>.dbf`` (company ``01`` by default), found whatever the letter case
(``ARDATA/ARCUST01.DBF`` on a copied Windows share, ``ardata/arcust01.dbf`` elsewhere).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TableLayout:
    folder: str  # under the data folder
    name: str  # without the company suffix
    required: tuple[str, ...]  # read by PaySync; missing = an error naming the file and the field
    optional: tuple[str, ...] = ()  # read when the site has them

    def file_name(self, company: str) -> str:
        return f"{self.name}{company}.dbf"


# AR customer master (§1.1).
ARCUST = TableLayout("ardata", "arcust", ("custno", "company"),
                     ("contact", "address1", "address2", "city", "state", "zip", "country", "phone", "email",
                      "balance", "currency", "lastpay", "lpymt"))
# AR open items, invoice headers (§1.2): balance = invamt - paidamt; a credit memo carries negative amounts.
ARMAST = TableLayout("ardata", "armast", ("invno", "custno", "invamt", "paidamt", "balance"),
                     ("invdte", "ponum", "ornum", "refno", "artype", "arstat", "dtepaid", "currid", "disamt"))
# AR invoice lines (§1.3).
ARTRAN = TableLayout("ardata", "artran", ("invno", "custno"),
                     ("lineno", "item", "descrip", "qtyshp", "price", "extprice", "invdte", "currid"))
# AR cash receipts (§1.4): one row per invoice application; refno the check or reference number.
ARCASH = TableLayout("ardata", "arcash", ("invno", "custno", "dtepaid", "refno", "paidamt"), ("disamt", "currid"))
# Sales orders (§1.6): sono is C(10), right-justified.
SOMAST = TableLayout("sodata", "somast", ("sono", "custno"), ("ponum", "ornum", "sodate", "ordamt", "sostat", "currid"))

TABLES = (ARCUST, ARMAST, ARTRAN, ARCASH, SOMAST)
DEFAULT_COMPANY = "01"
