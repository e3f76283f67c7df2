"""The stand-in's table layouts (spec ``sage_pro.md`` §1) and the few low-level helpers that write them.

Every table is a Visual FoxPro free table (header byte ``0x30``, code page cp1252), written with
``dbf`` (``dbf_type='vfp'``). Field order follows the public sources; the fields PaySync reads
(:mod:`paysync_dagster.lib.sagepro.layout`) are all here, with the other core fields, the ``add*``/
``lck*`` audit fields and a few site-custom columns (``USER1``, ``USER2``, ``DATEMOD``, ``SOTRACK``),
because every real installation is customised and a reader must not care.

Widths: ARCUST's come from the public VFP "pro32" layout (§1.1); ``item`` C(15), ``loctid`` C(3),
``sono`` C(10), ``custno`` C(6) and GL accounts C(24) are public too. Every other width is ASSUMED
and defined once, in the block below, each with the comment ``# width assumed (not in public sources)``.
Types: money is ``Y`` (currency) in ARCUST, where the VFP source shows it; elsewhere it is ``N(12,2)``
(assumed). The .NET dataset types ``exchrat`` as ``double`` (VFP ``B``); it is written as ``N`` here
because ``dbfread`` takes a ``B`` field for a memo and refuses a table without an ``.fpt``
(``MissingMemoFile``) unless opened with ``ignore_missing_memofile=True``: a reader of real tables
should pass that.

No CDX index files are written: the stand-in does not test index upkeep (spec §5).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

# -- Widths and types no public source gives: ASSUMED, all of them here --------------------------------
INVNO = "C(10)"  # width assumed (not in public sources); fits the generator's "INV-004213"
REFNO = "C(10)"  # width assumed (not in public sources); fits a PayTrace transaction id
PONUM = "C(20)"  # width assumed (not in public sources); "PO-12345", "Our SO # 177154" fit
ORNUM = "C(10)"  # width assumed (not in public sources); as SOMAST.sono C(10), right-justified like it
MONEY = "N(12,2)"  # width assumed (not in public sources); ARMAST/ARYMST/ARTRAN/ARCASH/SOMAST amounts
RATE = "N(7,3)"  # width assumed (not in public sources); tax/discount rates outside ARCUST (ARCUST's width)
EXCHRAT = "N(9,6)"  # width assumed (not in public sources); .NET 'double' (VFP B), see the module docstring
QTY = "N(10,2)"  # width assumed (not in public sources); ARTRAN quantities
LINENO = "N(3,0)"  # width assumed (not in public sources); ARTRAN line number
DESCRIP = "C(35)"  # width assumed (not in public sources); ARTRAN line description
GLCODE = "C(3)"  # width assumed (not in public sources); ARTRAN glsale/glasst sales codes ('DEF')
SHIPVIA = "C(15)"  # width assumed (not in public sources)
FOB = "C(15)"  # width assumed (not in public sources)
CSHIPNO = "C(6)"  # width assumed (not in public sources); ship-to number, a customer-number width
CODE1 = "C(1)"  # width assumed (not in public sources); one-letter codes: arstat, artype, sostat, tosw, ...
COMMID = "C(4)"  # width assumed (not in public sources)
PRTID = "C(4)"  # width assumed (not in public sources)
BATCH = "C(8)"  # width assumed (not in public sources); ARMAST batch
TAXST = "C(2)"  # width assumed (not in public sources)
SERIAL = "C(20)"  # width assumed (not in public sources)
BONO = "C(10)"  # width assumed (not in public sources); back-order number, a sono width
SOTRACK = "C(20)"  # width assumed (not in public sources); site-custom tracking column [S4]
SYSID = "C(4)"  # width assumed (not in public sources); SYSDATA key, "AR01"
SYSNUM = "N(14,2)"  # width assumed (not in public sources); SYSDATA num1..num7 totals
# ---------------------------------------------------------------------------------------------------

USER = "C(4)"  # adduser/lckuser: VFP code fills them with a 4-character user id [S9]
CUSTNO = "C(6)"
GLACCT = "C(24)"

# ARCUST's VFP "pro32" widths (§1.1), reused where another table has the same field.
TERR, SALESMN, PTERMS, TAXDIST, TAXTBL, CURRID = "C(3)", "C(4)", "C(20)", "C(4)", "C(10)", "C(3)"
PDAYS = "N(3,0)"


def _audit(lckstat: bool = True) -> list[str]:
    return ["adduser " + USER, "adddate D", "addtime C(8)", *(["lckstat C(1)"] if lckstat else []),
            "lckuser " + USER, "lckdate D", "lcktime C(8)"]


@dataclass(frozen=True)
class Table:
    folder: str  # "" = the data folder itself
    name: str  # without the company suffix ("" for sysdata, which has none)
    fields: tuple[str, ...]  # dbf field specs, "custno C(6)"
    right_justified: tuple[str, ...] = ()  # C keys padded on the left (sono, ornum)

    def relpath(self, company: str) -> str:
        file = f"{self.name}{company}.dbf" if self.name != "sysdata" else "sysdata.dbf"
        return f"{self.folder}/{file}" if self.folder else file

    def width(self, field: str) -> int:
        for spec in self.fields:
            name, kind = spec.split(" ", 1)
            if name == field:
                return int(kind[kind.index("(") + 1:].split(",")[0].rstrip(")"))
        raise KeyError(field)


ARCUST = Table("ardata", "arcust", (
    "custno " + CUSTNO, "company C(35)", "contact C(30)", "title C(30)", "address1 C(35)", "address2 C(35)",
    "city C(20)", "state C(10)", "zip C(10)", "country C(15)", "phone C(20)", "phone2 C(20)",
    "terr " + TERR, "indust C(8)", "salesmn " + SALESMN, "source C(15)", "code C(2)", "type C(8)",
    "pterms " + PTERMS, "pdisc N(7,3)", "pdays " + PDAYS, "pnet " + PDAYS, "svc N(7,3)", "tax N(7,3)", "disc N(7,3)",
    "ldate D", "lastpay D", "entered D", "limit Y", "credlimit Y", "balance Y", "hibalance Y", "ptdsls Y", "ytdsls Y",
    "onorder Y", "credit Y", "lpymt Y", "lsale Y", "pmtdays N(6,1)", "gllink C(3)",
    "aracct " + GLACCT, "sltxact " + GLACCT, "fchgact " + GLACCT, "comment C(65)", "history C(1)", "pricecode C(3)",
    "taxcode C(6)", "currency " + CURRID, "flags C(10)", "cstnum1 N(9,0)", "cstnum2 N(9,0)", "lstcall D",
    "dealer C(10)", "faxno C(20)", "taxdist " + TAXDIST, "statfmt C(1)", "forward Y", "taxtbl " + TAXTBL, "staxcrt L",
    "email M", "cstmemo M", *_audit(), "latitude N(9,5)", "longitude N(10,6)", "url M", "custgen G",
    # site-custom columns (spec §1.1: USER1..USER36, DATEMOD T): readers must ignore them
    "user1 C(20)", "user2 C(20)", "datemod T",
))

_ARMAST_FIELDS = (
    "invno " + INVNO, "invdte D", "custno " + CUSTNO, "salesmn " + SALESMN, "terr " + TERR, "ponum " + PONUM,
    "refno " + REFNO, "cshipno " + CSHIPNO, "disc " + RATE, "taxrate " + RATE, "tax " + MONEY, "invamt " + MONEY,
    "disamt " + MONEY, "paidamt " + MONEY, "balance " + MONEY, "glarec " + GLACCT, "shipvia " + SHIPVIA, "fob " + FOB,
    "pterms " + PTERMS, "pdisc " + RATE, "pdays " + PDAYS, "pnet " + PDAYS, "dtepaid D", "ordate D", "ornum " + ORNUM,
    "commid " + COMMID, "tosw " + CODE1, "bpayamt " + MONEY, "maint " + CODE1, "exchrat " + EXCHRAT, "prtid " + PRTID,
    "arstat " + CODE1, "artype " + CODE1, "batch " + BATCH, "current " + CODE1, "taxdist " + TAXDIST, "oti " + CODE1,
    "comtype " + CODE1, "taxtbl " + TAXTBL, "taxsamt " + MONEY, "taxst " + TAXST, "exempt L", *_audit(),
    "currid " + CURRID, "binvamt " + MONEY, "bdisamt " + MONEY, "bbal " + MONEY, "btax " + MONEY, "balcor " + MONEY,
    "btaxsam " + MONEY, "exchfrz L", "glaccnt " + GLACCT, "deposit " + CODE1,
    # site-custom columns (spec §1.2: sotrack, storenr seen at a site)
    "sotrack " + SOTRACK, "user1 C(20)",
)
ARMAST = Table("ardata", "armast", _ARMAST_FIELDS, right_justified=("ornum",))
ARYMST = Table("ardata", "arymst", _ARMAST_FIELDS, right_justified=("ornum",))  # paid history: ARMAST's layout

ARTRAN = Table("ardata", "artran", (
    "invno " + INVNO, "custno " + CUSTNO, "invdte D", "lineno " + LINENO, "item C(15)", "descrip " + DESCRIP,
    "currid " + CURRID, "exchrat " + EXCHRAT, "glasst " + GLCODE, "glsale " + GLCODE, "qtyord " + QTY, "qtyshp " + QTY,
    "price " + MONEY, "bprice " + MONEY, "extprice " + MONEY, "bextpri " + MONEY, "taxrate " + RATE,
    "taxable " + CODE1, "terr " + TERR, "cost " + MONEY, "ponum " + PONUM, "loctid C(3)", "serial " + SERIAL,
    "artype " + CODE1, *_audit(lckstat=False), "user1 C(20)",
))

# Cash receipts (§1.4): the six public columns; the audit fields are assumed (every Pro Series table
# shown carries them), the bank/cash-account column and the index tags are unknown and left out.
ARCASH = Table("ardata", "arcash", (
    "invno " + INVNO, "custno " + CUSTNO, "dtepaid D", "refno " + REFNO, "paidamt " + MONEY, "disamt " + MONEY,
    "adduser " + USER, "adddate D", "addtime C(8)",
))

SOMAST = Table("sodata", "somast", (
    "sono C(10)", "prnpktk " + CODE1, "custno " + CUSTNO, "sodate D", "ordate D", "shipvia " + SHIPVIA,
    "cshipno " + CSHIPNO, "fob " + FOB, "pterms " + PTERMS, "pdisc " + RATE, "pdays " + PDAYS, "pnet " + PDAYS,
    "disc " + RATE, "taxrate " + RATE, "tax " + MONEY, "ordamt " + MONEY, "shpamt " + MONEY, "currship " + MONEY,
    "ponum " + PONUM, "ornum " + ORNUM, "glarec " + GLACCT, "commid " + COMMID, "salesmn " + SALESMN, "terr " + TERR,
    "maint " + CODE1, "prtid " + PRTID, "copyid " + PRTID, "tosw " + CODE1, "current " + CODE1, "sostat " + CODE1,
    "sotype " + CODE1, "taxdist " + TAXDIST, "bono " + BONO, "comtype " + CODE1, "taxsamt " + MONEY,
    "taxtbl " + TAXTBL, "taxst " + TAXST, "exempt L", *_audit(), "currid " + CURRID, "exchrat " + EXCHRAT,
    "bcurshp " + MONEY, "bordamt " + MONEY, "bshpamt " + MONEY, "btax " + MONEY, "revrate " + EXCHRAT, "revdate D",
    "exchfrz L",
    # site-custom columns (spec §1.6: sotrack, loctid, pricecode seen at sites)
    "sotrack " + SOTRACK, "loctid C(3)", "pricecode C(3)", "user1 C(20)",
), right_justified=("sono",))

# System table at the root (§1.5): one record per module and company, keyed sysid ("AR01").
SYSDATA = Table("", "sysdata", (
    "sysid " + SYSID, "company C(35)", *(f"num{i} " + SYSNUM for i in range(1, 8)), "adduser " + USER, "adddate D",
    "addtime C(8)",
))

COMPANY_TABLES = (ARCUST, ARMAST, ARTRAN, ARCASH, ARYMST, SOMAST)

# A file at the root that marks a folder as this stand-in: keying writes only into a folder that has it.
MARKER = "PAYSYNC_SAGEPRO_STANDIN.txt"
MARKER_TEXT = ("A local stand-in of a Sage Pro company, written by `paysync sandbox sagepro`. Not Sage Pro data:\n"
               "no CDX indexes, no ARDIST/GL. `paysync sandbox sagepro key` writes only into a folder with this\n"
               "file.\n")

CENT = Decimal("0.01")


class StandInError(ValueError):
    """A refusal in the stand-in's words: ``what`` is wrong, and ``fix``. Raised before anything is written."""

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(f"{what}; {fix}")
        self.what, self.fix = what, fix


def money(value: Any) -> Decimal:
    """A table's money value (float from N, Decimal from Y, None when blank) as a 2-place Decimal."""
    if value is None:
        return Decimal("0.00")
    if isinstance(value, float):
        value = repr(value)
    return Decimal(value).quantize(CENT)


def blank_row(table: Table) -> dict[str, Any]:
    """Every field given a value as VFP's INSERT with all columns would (no NULLs, "NULL=NO"):
    text '', numbers 0, logicals False; dates stay blank (read back as 1899-12-30 through ODBC)."""
    row: dict[str, Any] = {}
    for spec in table.fields:
        name, kind = spec.split(" ", 1)
        code = kind[0]
        if code in "CM":
            row[name] = ""
        elif code in "NY":
            row[name] = Decimal("0") if code == "Y" or "," in kind else 0
        elif code == "L":
            row[name] = False
    return row


def create(path: Path, table: Table, rows: list[dict[str, Any]]) -> int:
    """(Re)write ``path`` as a VFP table of ``table``'s layout holding ``rows``; returns the row count."""
    import dbf

    for stale in (path, path.with_suffix(".fpt"), path.with_suffix(".FPT"), path.with_suffix(".cdx")):
        stale.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    t = dbf.Table(str(path), list(table.fields), dbf_type="vfp", codepage="cp1252")
    t.open(dbf.READ_WRITE)
    try:
        base = blank_row(table)
        for row in rows:
            t.append({**base, **row})
    finally:
        t.close()
    if table.right_justified:
        right_justify(path, table.right_justified)
    mark_memo(path, table)
    return len(rows)


def mark_memo(path: Path, table: Table) -> None:
    """Set the table-flags byte's "has memo" bit (0x02) where VFP would (``dbf`` leaves the byte 0); the
    "has structural CDX" bit (0x01) stays clear, as there is no CDX."""
    if any(spec.split(" ", 1)[1][0] in "MG" for spec in table.fields):
        with open(path, "r+b") as f:
            f.seek(28)
            flags = f.read(1)[0]
            f.seek(28)
            f.write(bytes([(flags | 0x02) & ~0x01]))


def right_justify(path: Path, fields: tuple[str, ...]) -> None:
    """Pad the named C fields on the left, in place: ``dbf`` strips leading blanks from what it writes,
    and Sage Pro keeps ``sono`` right-justified in C(10) (``LPAD(..., 10, ' ')``, spec §1.6)."""
    with open(path, "r+b") as f:
        head = f.read(32)
        count, header_len, record_len = struct.unpack("<IHH", head[4:12])
        spans: list[tuple[int, int]] = []
        wanted = {name.upper() for name in fields}
        while True:
            desc = f.read(32)
            if not desc or desc[0] == 0x0D:
                break
            name = desc[:11].split(b"\0", 1)[0].decode("ascii")
            if name in wanted:
                spans.append((struct.unpack("<I", desc[12:16])[0], desc[16]))
        for i in range(count):
            at = header_len + i * record_len
            f.seek(at)
            record = bytearray(f.read(record_len))
            for offset, length in spans:
                record[offset:offset + length] = bytes(record[offset:offset + length]).strip().rjust(length)
            f.seek(at)
            f.write(record)


def find(data_dir: Path, relpath: str) -> Path | None:
    """``relpath`` under ``data_dir``, whatever the letter case of each part (a copied Windows share
    has ``ARDATA/ARCUST01.DBF``)."""
    here = data_dir
    for part in relpath.split("/"):
        exact = here / part
        if exact.exists():
            here = exact
            continue
        if not here.is_dir():
            return None
        match = next((p for p in sorted(here.iterdir()) if p.name.lower() == part.lower()), None)
        if match is None:
            return None
        here = match
    return here
