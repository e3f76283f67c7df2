"""Billing-address standardization: US state codes, ZIP5 / ZIP+4, ISO 3166 alpha-2 countries. Vectorized."""

from __future__ import annotations

import pandas as pd

from paysync_dagster.lib.vector import per_unique

US_STATES = {
    "ALABAMA": "AL", "ALASKA": "AK", "ARIZONA": "AZ", "ARKANSAS": "AR", "CALIFORNIA": "CA", "COLORADO": "CO",
    "CONNECTICUT": "CT", "DELAWARE": "DE", "DISTRICT OF COLUMBIA": "DC", "FLORIDA": "FL", "GEORGIA": "GA",
    "HAWAII": "HI", "IDAHO": "ID", "ILLINOIS": "IL", "INDIANA": "IN", "IOWA": "IA", "KANSAS": "KS",
    "KENTUCKY": "KY", "LOUISIANA": "LA", "MAINE": "ME", "MARYLAND": "MD", "MASSACHUSETTS": "MA",
    "MICHIGAN": "MI", "MINNESOTA": "MN", "MISSISSIPPI": "MS", "MISSOURI": "MO", "MONTANA": "MT",
    "NEBRASKA": "NE", "NEVADA": "NV", "NEW HAMPSHIRE": "NH", "NEW JERSEY": "NJ", "NEW MEXICO": "NM",
    "NEW YORK": "NY", "NORTH CAROLINA": "NC", "NORTH DAKOTA": "ND", "OHIO": "OH", "OKLAHOMA": "OK",
    "OREGON": "OR", "PENNSYLVANIA": "PA", "RHODE ISLAND": "RI", "SOUTH CAROLINA": "SC", "SOUTH DAKOTA": "SD",
    "TENNESSEE": "TN", "TEXAS": "TX", "UTAH": "UT", "VERMONT": "VT", "VIRGINIA": "VA", "WASHINGTON": "WA",
    "WEST VIRGINIA": "WV", "WISCONSIN": "WI", "WYOMING": "WY", "PUERTO RICO": "PR", "GUAM": "GU",
}
COUNTRIES = {
    "US": "US", "USA": "US", "U.S.": "US", "U.S.A.": "US", "UNITED STATES": "US", "UNITED STATES OF AMERICA": "US", "AMERICA": "US",
    "CA": "CA", "CAN": "CA", "CANADA": "CA",
    "GB": "GB", "GBR": "GB", "UK": "GB", "U.K.": "GB", "UNITED KINGDOM": "GB", "GREAT BRITAIN": "GB", "ENGLAND": "GB",
    "SCOTLAND": "GB", "WALES": "GB", "MX": "MX", "MEX": "MX", "MEXICO": "MX", "DE": "DE", "GERMANY": "DE",
    "FR": "FR", "FRANCE": "FR", "AU": "AU", "AUSTRALIA": "AU",
}


def _clean(s: pd.Series) -> pd.Series:
    return s.fillna("").astype(str).str.strip().str.replace(r"\s+", " ", regex=True).str.upper()


def standardize_country(country: pd.Series) -> pd.Series:
    def _one(c: pd.Series) -> pd.Series:
        c = _clean(c)
        # An unknown two-letter code is kept as given; anything else unknown stays visible, uppercased.
        return c.map(COUNTRIES).fillna(c)

    return per_unique(country, _one)


def standardize_state(state: pd.Series, country: pd.Series) -> pd.Series:
    """US state names become their codes; other countries' regions are only cleaned."""
    cleaned = per_unique(state, lambda s: _clean(s).str.replace(".", "", regex=False))
    named = per_unique(cleaned, lambda s: s.map(US_STATES).fillna(""))
    use_code = (country == "US") & (named != "")
    return cleaned.where(~use_code, named)


def _us_zip(p: pd.Series) -> pd.Series:
    p = _clean(p)
    digits = p.str.replace(r"[^0-9]", "", regex=True)
    out = p.copy()
    out[digits.str.len() == 5] = digits
    nine = digits.str.len() == 9
    out[nine] = digits[nine].str[:5] + "-" + digits[nine].str[5:]
    return out


def standardize_postal_code(postal: pd.Series, country: pd.Series) -> pd.Series:
    """ZIP5 or ZIP+4 for US addresses; other postcodes cleaned and upper-cased."""
    is_us = country == "US"
    return per_unique(postal, _clean).where(~is_us, per_unique(postal, _us_zip))

