"""The words customer suggestions read names and e-mail addresses with: abbreviations written out,
nicknames, titles, the words of a business's name (not a person's), and free-mail providers."""

from __future__ import annotations

# Words written short in customer masters, and the word they stand for.
ABBREVIATIONS = {
    "INTL": "INTERNATIONAL", "INT": "INTERNATIONAL", "MFG": "MANUFACTURING", "MFRS": "MANUFACTURERS",
    "SVCS": "SERVICES", "SVC": "SERVICE", "SERV": "SERVICES", "TECH": "TECHNOLOGY", "TECHS": "TECHNOLOGIES",
    "ASSOC": "ASSOCIATES", "ASSN": "ASSOCIATION", "BROS": "BROTHERS", "CTR": "CENTER", "CNTR": "CENTER",
    "DIST": "DISTRIBUTION", "DISTR": "DISTRIBUTORS", "ENG": "ENGINEERING", "ENGG": "ENGINEERING",
    "GRP": "GROUP", "HLDGS": "HOLDINGS", "IND": "INDUSTRIES", "INDS": "INDUSTRIES", "LABS": "LABORATORIES",
    "LAB": "LABORATORY", "MED": "MEDICAL", "MGMT": "MANAGEMENT", "MKTG": "MARKETING", "NATL": "NATIONAL",
    "PROD": "PRODUCTS", "PRODS": "PRODUCTS", "SUPP": "SUPPLY", "SYS": "SYSTEMS", "AMER": "AMERICA",
    "AUTO": "AUTOMOTIVE", "CONST": "CONSTRUCTION", "ELEC": "ELECTRIC", "EQUIP": "EQUIPMENT",
    "FDN": "FOUNDATION", "HOSP": "HOSPITAL", "INS": "INSURANCE", "MTN": "MOUNTAIN", "PHARM": "PHARMACEUTICAL",
    "RLTY": "REALTY", "SCI": "SCIENTIFIC", "SOLNS": "SOLUTIONS", "SOL": "SOLUTIONS", "TRANS": "TRANSPORT",
    "MKT": "MARKET", "MKTS": "MARKETS", "MERC": "MERCANTILE", "DELI": "DELICATESSEN", "FAB": "FABRICATION",
    "VET": "VETERINARY", "HOA": "HOMEOWNERS ASSOCIATION", "NW": "NORTHWEST", "NE": "NORTHEAST",
    "SW": "SOUTHWEST", "SE": "SOUTHEAST", "SQ": "SQUARE", "AG": "AGRICULTURAL",
    "&": "AND", "N": "AND",
}
# A person's usual short names, and the name they stand for (only those that stand for one name).
NICKNAMES = {
    "BOB": "ROBERT", "BOBBY": "ROBERT", "ROB": "ROBERT", "ROBBIE": "ROBERT", "BILL": "WILLIAM", "BILLY": "WILLIAM",
    "WILL": "WILLIAM", "MIKE": "MICHAEL", "DAN": "DANIEL", "DANNY": "DANIEL", "JIM": "JAMES", "JIMMY": "JAMES",
    "LIZ": "ELIZABETH", "BETH": "ELIZABETH", "BETSY": "ELIZABETH", "TOM": "THOMAS", "TOMMY": "THOMAS",
    "JOE": "JOSEPH", "DAVE": "DAVID", "STEVE": "STEVEN", "KATHY": "KATHERINE", "KATE": "KATHERINE",
    "KATIE": "KATHERINE", "SUE": "SUSAN", "TONY": "ANTHONY", "RICK": "RICHARD", "RICH": "RICHARD",
    "DICK": "RICHARD", "ED": "EDWARD", "JENNY": "JENNIFER", "JEN": "JENNIFER", "MATT": "MATTHEW",
    "NICK": "NICHOLAS", "CHUCK": "CHARLES", "CHARLIE": "CHARLES", "PEGGY": "MARGARET", "MAGGIE": "MARGARET",
    "GREG": "GREGORY", "JEFF": "JEFFREY", "ANDY": "ANDREW", "TIM": "TIMOTHY", "BEN": "BENJAMIN",
    "LARRY": "LAWRENCE", "PATTY": "PATRICIA", "TRISH": "PATRICIA", "DEB": "DEBORAH", "DEBBIE": "DEBORAH",
    "MANDY": "AMANDA", "PEG": "MARGARET", "HAL": "HAROLD", "ROSIE": "ROSE", "LUPE": "GUADALUPE",
}
# Words around a person's name that are not the name: titles, generations, degrees.
TITLES = frozenset({"DR", "MR", "MRS", "MS", "MISS", "PROF", "REV", "JR", "SR", "II", "III", "IV", "MD", "DDS",
                     "DMD", "DVM", "ESQ", "PHD", "CPA", "AND"})
# Words of a business's name, not a person's: a vault name with one is an organisation (a sister company
# at an account's domain and place is one, a person there is not).
BUSINESS_WORDS = frozenset(set(ABBREVIATIONS.values()) - {"AND"} | {
    "ACADEMY", "AGENCY", "ANIMAL", "APPAREL", "ASSOCIATION", "AUTO", "BAKERY", "BANK", "BAR", "BISTRO", "BREWERY",
    "BUILDERS", "CAFE", "CARE", "CATERING", "CHURCH", "CLINIC", "CLUB", "COLLISION", "CONSULTING", "CREAMERY",
    "DENTAL", "DENTISTRY", "DESIGN", "DEVELOPMENT", "DINER", "ELECTRICAL", "ENTERPRISES", "FAMILY", "FARM",
    "FARMS", "FINANCIAL", "FITNESS", "FLORIST", "FOODS", "GALLERY", "GARAGE", "GRILL", "HARDWARE", "HEALTH",
    "HEATING", "HOMES", "HOTEL", "IMPORTS", "INN", "JANITORIAL", "KITCHEN", "LANDSCAPING", "LAW", "LOGISTICS",
    "MACHINE", "MARKET", "MEDIA", "MOTORS", "OFFICE", "ORTHODONTICS", "OUTFITTERS", "PARTNERS", "PHARMACY",
    "PIZZA", "PLUMBING", "PRESS", "PRINTING", "PROPERTIES", "PUMP", "RENTAL", "REPAIR", "RESTAURANT", "ROOFING",
    "SALON", "SCHOOL", "SHOP", "SIGNS", "SPA", "STEEL", "STORE", "STUDIO", "TRADERS", "TRUCKING", "VALVE",
    "WELDING", "WHOLESALE", "WINERY", "WORKS",
    # Institutions and their parts: a university's department is not a person at the university.
    "ALLIANCE", "ATHLETICS", "BOARD", "CHAPTER", "CITY", "COLLECTIVE", "COLLEGE", "COMMISSION", "COMMITTEE",
    "COOPERATIVE", "COUNCIL", "COUNTY", "DEPARTMENT", "DEPT", "DISTRICT", "DIVISION", "EXTENSION", "FOUNDATION",
    "FUND", "INSTITUTE", "LEAGUE", "LIBRARY", "MINISTRIES", "MINISTRY", "MUSEUM", "PARISH", "PROGRAM",
    "SOCIETY", "STATE", "TRUST", "UNION", "UNIVERSITY",
})
# Free mail providers: a domain many unrelated payers share says nothing about the organisation.
FREE_MAIL = frozenset({
    "GMAIL.COM", "GOOGLEMAIL.COM", "YAHOO.COM", "YAHOO.CO.UK", "HOTMAIL.COM", "OUTLOOK.COM", "LIVE.COM",
    "MSN.COM", "AOL.COM", "ICLOUD.COM", "ME.COM", "MAC.COM", "PROTONMAIL.COM", "PROTON.ME", "GMX.COM",
    "GMX.DE", "WEB.DE", "MAIL.COM", "YANDEX.COM", "ZOHO.COM", "COMCAST.NET", "VERIZON.NET", "ATT.NET",
    "SBCGLOBAL.NET", "BELLSOUTH.NET", "COX.NET", "EARTHLINK.NET",
})
