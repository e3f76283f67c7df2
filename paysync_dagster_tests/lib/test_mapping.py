"""The mapping file: validated with errors naming file, line and key, and refused at definitions load."""

import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from paysync_dagster.lib.mapping import (SAMPLE_MAPPING, MappingError, check_gl_accounts, gl_account_for, load_mapping,
                                          parse_mapping)

REPO = Path(__file__).resolve().parents[2]
SAMPLE = SAMPLE_MAPPING.read_text()


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_the_sample_mapping_is_valid() -> None:
    m = load_mapping(SAMPLE_MAPPING)
    assert m.version and m.gl_accounts.default
    assert m.rate_for("CAD", date(2026, 6, 1)).rate > 0
    assert m.rate_for("CAD", date(2025, 6, 1)) is None  # no rate dated before: no conversion


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('  default: "101.10.12000.000"', '  defualt: "101.10.12000.000"', "gl_accounts.defualt"),
        ("    settled: Cleared", "    setled: Cleared", "statuses.oracle.setled"),
        ("  base: USD", "  base: dollars", "currency.base"),
        ("    voided: voided\n", "    voided: annulled\n", "statuses.paytrace.voided"),
        ("merchant_time_zone: America/Los_Angeles", "merchant_time_zone: Mars/Olympus", "merchant_time_zone"),
        ('rate: "0.7300"', 'rate: "-1"', "currency.rates.0.rate"),
        ("  amount_minor: 0            #", "  amount_minor: high #", "tolerances.amount_minor"),
        ("  split: oldest_first", "  split: newest_first", "invoice_reference.split"),
    ],
)
def test_errors_name_the_file_line_and_key(old: str, new: str, key: str) -> None:
    assert old in SAMPLE
    text = SAMPLE.replace(old, new, 1)
    with pytest.raises(MappingError) as err:
        parse_mapping(text, "rules.yaml")
    message = str(err.value)
    assert f"rules.yaml, line {_line_of(text, new.strip())}, key {key}:" in message


def test_the_line_is_the_line_of_the_bad_key() -> None:
    text = SAMPLE.replace('  default: "101.10.12000.000"', "  default: ''", 1)
    line = _line_of(text, "default: ''")
    with pytest.raises(MappingError) as err:
        parse_mapping(text, "rules.yaml")
    assert f"line {line}, key gl_accounts.default" in str(err.value)


# Each broken file is written out with its line numbers in mind; `line`, `column` are where a person
# must edit (1-based), whatever line PyYAML gave up on.
YAML_MISTAKES = {
    "key indented one space too far, mid-block": (
        "statuses:\n"                        # 1
        "  paytrace:\n"                      # 2
        "    authorized: authorized\n"       # 3
        "     approved: pending_settlement\n"  # 4 <- one space too far
        "    captured: pending_settlement\n",  # 5
        4, 6, "indentation does not line up"),
    "key indented one space too little, mid-block": (
        "statuses:\n"                        # 1
        "  paytrace:\n"                      # 2
        "    authorized: authorized\n"       # 3
        "   approved: pending_settlement\n"  # 4 <- one space too little
        "    captured: pending_settlement\n",  # 5
        4, 4, "indentation does not line up"),
    "tab used for indentation": (
        "statuses:\n"                        # 1
        "  paytrace:\n"                      # 2
        "    authorized: authorized\n"       # 3
        "\tapproved: pending_settlement\n",  # 4 <- tab
        4, 1, "a tab character"),
    "unclosed double quote, mid-file": (
        "receipts:\n"                        # 1
        "  receipt_method: \"PayTrace Card\n"  # 2 <- never closed
        "  business_unit: \"US1 Business Unit\"\n"  # 3: PyYAML's quote closes here and it fails
        "  remittance_bank_account: x\n",    # 4
        2, 19, "this quote is never closed"),
    "unclosed single quote at the end": (
        "version: 1\n"                       # 1
        "receipts:\n"                        # 2
        "  receipt_method: 'PayTrace Card\n",  # 3 <- never closed; PyYAML fails at the end of the file
        3, 19, "this quote is never closed"),
    "unclosed bracket at the end": (
        "version: 1\n"                       # 1
        "statuses:\n"                        # 2
        "  paytrace: [unclosed\n",           # 3 <- '[' never closed
        3, 13, "this '[' is never closed"),
    "unclosed bracket, mid-file": (
        "customers:\n"                       # 1
        "  lookup_fallback: [email, name\n"  # 2 <- '[' never closed
        "\n"                                 # 3
        "currency:\n"                        # 4: PyYAML fails here
        "  base: USD\n",                     # 5
        2, 20, "this '[' is never closed"),
    "unclosed brace in a list": (
        "currency:\n"                        # 1
        "  rates:\n"                         # 2
        "    - {currency: CAD, date: 2026-01-01, rate: '0.73', source: t\n"  # 3 <- '{' never closed
        "    - {currency: GBP, date: 2026-01-01, rate: '1.27', source: t}\n",  # 4: PyYAML fails here
        3, 7, "this '{' is never closed"),
    "missing colon, mid-block": (
        "receipts:\n"                        # 1
        "  receipt_method: \"PayTrace Card\"\n"  # 2
        "  business_unit \"US1 Business Unit\"\n"  # 3 <- no ':'
        "  remittance_bank_account: x\n",    # 4: PyYAML fails here
        3, 3, "this key has no ':'"),
    "missing colon on the first key of a block": (
        "statuses:\n"                        # 1
        "  paytrace:\n"                      # 2
        "    authorized authorized\n"        # 3 <- no ':'
        "    approved: pending_settlement\n",  # 4: PyYAML fails here
        3, 5, "this key has no ':'"),
    "duplicate key": (
        "version: a\n"                       # 1
        "merchant_time_zone: UTC\n"          # 2
        "version: b\n",                      # 3 <- twice
        3, 1, "key 'version' appears twice (first on line 1"),
    "stray list item among keys": (
        "receipts:\n"                        # 1
        "  receipt_method: \"PayTrace Card\"\n"  # 2
        "  - business_unit: \"US1 Business Unit\"\n"  # 3 <- '- '
        "  remittance_bank_account: x\n",    # 4
        3, 3, "a '- ' list item among keys"),
    "stray list item, indented under a value": (
        "receipts:\n"                        # 1
        "  receipt_method: \"PayTrace Card\"\n"  # 2
        "    - business_unit: \"US1 Business Unit\"\n"  # 3 <- '- '
        "  remittance_bank_account: x\n",    # 4
        3, 5, "a '- ' list item among keys"),
}


@pytest.mark.parametrize("kind", list(YAML_MISTAKES))
def test_yaml_mistakes_are_reported_at_the_line_to_edit(kind: str) -> None:
    text, line, column, what = YAML_MISTAKES[kind]
    with pytest.raises(MappingError) as err:
        parse_mapping(text, "x.yaml")
    message = str(err.value)
    assert message.startswith(f"x.yaml, line {line}, column {column}: "), message
    assert what in message and "\n" not in message and message.endswith(")")


def test_yaml_mistakes_deep_in_the_sample_name_their_own_line() -> None:
    """Where the block around the mistake starts many lines above, the line is still the mistake's."""
    for old, new, what in [
        ("    approved: pending_settlement", "     approved: pending_settlement", "indentation"),
        ("      account: \"101.10.12150.000\"", "     account: \"101.10.12150.000\"", "indentation"),
        ('  default: "101.10.12000.000"', '  default: "101.10.12000.000', "quote"),
        ("    voided: Reversed", "\tvoided: Reversed", "tab"),
        ("  lookup_fallback: [id, email, domain, name]", "  lookup_fallback: [id, email, domain, name", "'['"),
    ]:
        assert old in SAMPLE
        text = SAMPLE.replace(old, new, 1)
        with pytest.raises(MappingError, match=f"rules.yaml, line {_line_of(text, new)}, column \\d+: .*{re.escape(what)}"):
            parse_mapping(text, "rules.yaml")


def test_a_quote_left_open_is_found_even_where_pyyaml_reads_on() -> None:
    # PyYAML closes the quote with the next one and reads `"...\n  business_unit: "` as one value.
    text = SAMPLE.replace('  receipt_method: "PayTrace Card"', '  receipt_method: "PayTrace Card', 1).replace(
        '  business_unit: "US1 Business Unit"', '  business_unit: "', 1)
    with pytest.raises(MappingError, match=f"line {_line_of(text, 'receipt_method:')}, column 19: this quote is never closed"):
        parse_mapping(text, "rules.yaml")


def test_valid_multi_line_values_are_not_taken_for_unclosed_ones() -> None:
    text = SAMPLE.replace("  lookup_fallback: [id, email, domain, name]", "  lookup_fallback: [\n    id,\n    email,\n    domain,\n    name\n  ]", 1).replace(
        '  receipt_method: "PayTrace Card"', '  receipt_method: "PayTrace\n    Card"', 1)
    m = parse_mapping(text, "rules.yaml")
    assert m.customers.lookup_fallback == ["id", "email", "domain", "name"] and m.receipts.receipt_method == "PayTrace Card"


GL_FORMAT = """\
  format:
    oracle: {pattern: '^\\d{3}\\.\\d{2}\\.\\d{5}\\.\\d{3}$', example: "101.10.12000.000"}
"""
SAGE_FORMAT = """    sage: {pattern: '^\\d{4}(-\\d{3})?$', example: "1020-000"}\n"""


def _with_formats(*extra: str) -> str:
    """The sample with a Sage format beside its Oracle one, and `extra` (old, new) replacements."""
    assert GL_FORMAT in SAMPLE
    text = SAMPLE.replace(GL_FORMAT, GL_FORMAT + SAGE_FORMAT, 1)
    for old, new in zip(extra[::2], extra[1::2]):
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def test_the_sample_has_an_oracle_format_its_accounts_fit() -> None:
    m = load_mapping(SAMPLE_MAPPING)
    assert m.gl_accounts.format["oracle"].example == "101.10.12000.000"
    assert check_gl_accounts(m, "oracle") == [] and check_gl_accounts(m, "sage") == []


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('account: "101.10.12100.000"', 'account: "101.10.12100"', "gl_accounts.rules.0.account"),
        ('account: "101.10.12110.000"', 'account: "1011012110000"', "gl_accounts.rules.2.account"),
        ('default: "101.10.12000.000"', 'default: "101.10.12000.000 "', "gl_accounts.default"),
    ],
)
def test_a_gl_account_off_the_erp_format_names_line_key_and_example(old: str, new: str, key: str) -> None:
    text = SAMPLE.replace(old, new, 1)
    with pytest.raises(MappingError) as err:
        parse_mapping(text, "rules.yaml")
    assert str(err.value) == (f"rules.yaml, line {_line_of(text, new)}, key {key}: GL account "
                              f"{new.split(': ')[1].strip(chr(34))!r} does not fit oracle's account format "
                              "(expected like '101.10.12000.000')")


def test_an_invalid_pattern_or_an_example_off_its_pattern_names_its_line() -> None:
    text = SAMPLE.replace("'^\\d{3}\\.", "'^(\\d{3}\\.", 1)
    with pytest.raises(MappingError, match=rf"rules.yaml, line {_line_of(text, 'oracle: {pattern')}, key gl_accounts.format.oracle.pattern: "
                                           r"Value error, not a valid regular expression \(missing \), unterminated subpattern"):
        parse_mapping(text, "rules.yaml")
    text = SAMPLE.replace('example: "101.10.12000.000"', 'example: "101-10"', 1)
    line = _line_of(text, 'example: "101-10"')
    with pytest.raises(MappingError, match=rf"line {line}, key gl_accounts.format.oracle: .*the example '101-10' does not match"):
        parse_mapping(text, "rules.yaml")
    with pytest.raises(MappingError, match=r"key gl_accounts.format.peoplesoft"):
        parse_mapping(SAMPLE.replace("    oracle: {pattern", "    peoplesoft: {pattern", 1), "rules.yaml")


def test_every_account_is_checked_against_every_erp_format() -> None:
    text = _with_formats()
    with pytest.raises(MappingError) as err:
        parse_mapping(text, "rules.yaml")
    problems = str(err.value).split("; rules.yaml")
    assert len(problems) == 4  # three rules and the default, none in Sage's format
    line = _line_of(text, 'account: "101.10.12100.000"')
    assert f"line {line}, key gl_accounts.rules.0.account: GL account '101.10.12100.000' " \
           "does not fit sage's account format (expected like '1020-000'; where one account cannot fit every ERP, " \
           "add accounts: {sage: ...} beside it)" in problems[0]
    assert "key gl_accounts.default:" in problems[3] and "add default_accounts: {sage: ...}" in problems[3]


SAGE_OVERRIDES = (
    'account: "101.10.12100.000"      # card clearing, refunds',
    'account: "101.10.12100.000"\n      accounts: {sage: "1020-100"}',
    'account: "101.10.12150.000"      # chargebacks receivable',
    'account: "101.10.12150.000"\n      accounts: {sage: "1020-150"}',
    'account: "101.10.12110.000"      # AmEx clearing (funded separately)',
    'account: "101.10.12110.000"\n      accounts: {sage: "1020-110"}',
    '  default: "101.10.12000.000"          # card clearing',
    '  default: "101.10.12000.000"\n  default_accounts: {sage: "1020-000"}',
)


def test_per_erp_accounts_are_checked_in_their_own_erp_and_used_there() -> None:
    m = parse_mapping(_with_formats(*SAGE_OVERRIDES), "rules.yaml")
    assert gl_account_for(m, "sage", "101.10.12100.000") == "1020-100"
    assert gl_account_for(m, "sage", "101.10.12000.000") == "1020-000"
    assert gl_account_for(m, "oracle", "101.10.12100.000") == "101.10.12100.000"  # no Oracle override: as chosen
    text = _with_formats(*SAGE_OVERRIDES[:-2], SAGE_OVERRIDES[-2], '  default: "101.10.12000.000"\n  default_accounts: {sage: "10200"}')
    line = _line_of(text, '{sage: "10200"}')
    with pytest.raises(MappingError, match=rf"line {line}, key gl_accounts.default_accounts.sage: "
                                           r"GL account '10200' does not fit sage's account format \(expected like '1020-000'\)$"):
        parse_mapping(text, "rules.yaml")


def test_one_account_cannot_stand_for_two_accounts_of_one_erp() -> None:
    text = SAMPLE.replace('account: "101.10.12150.000"', 'account: "101.10.12100.000"\n      accounts: {sage: "1020-150"}', 1).replace(
        'account: "101.10.12100.000"      # card clearing, refunds', 'account: "101.10.12100.000"\n      accounts: {sage: "1020-100"}', 1)
    with pytest.raises(MappingError, match=rf"line {_line_of(text, '1020-150')}, key gl_accounts.rules.1.accounts.sage: "
                                           r"'101.10.12100.000' is already '1020-100' in sage at gl_accounts.rules.0.accounts.sage"):
        parse_mapping(text, "rules.yaml")


def test_check_gl_accounts_against_what_the_erp_holds() -> None:
    m = parse_mapping(_with_formats(*SAGE_OVERRIDES), "rules.yaml")
    # Sage 300's GL/GLAccounts: AccountNumber is formatted, UnformattedAccount is not; either list works.
    assert check_gl_accounts(m, "sage", known_accounts={"1020-000", "1020-100", "1020-110", "1020-150"}) == []
    assert check_gl_accounts(m, "sage", known_accounts={"1020000", "1020100", "1020110", "1020150"}) == []
    missing = check_gl_accounts(m, "sage", known_accounts={"1020-000", "1020-100", "1020-110"})
    assert missing == [f"rules.yaml, line {_line_of(_with_formats(*SAGE_OVERRIDES), '1020-150')}, "
                       "key gl_accounts.rules.1.accounts.sage: GL account '1020-150' is not in sage's chart of accounts"]


def test_the_format_read_from_the_erp_wins_over_the_mapping_pattern() -> None:
    m = load_mapping(SAMPLE_MAPPING)
    # Oracle's demo ledgers use six segments; the mapping's four-segment pattern does not decide then.
    found = check_gl_accounts(m, "oracle", pattern=r"\d{3}\.\d{2}\.\d{5}\.\d{3}\.\d{3}\.\d{3}")
    assert len(found) == 4 and all("expected to match" in f for f in found)
    assert found[0].startswith(f"{SAMPLE_MAPPING}, line {_line_of(SAMPLE, '101.10.12100.000')}, key gl_accounts.rules.0.account: ")
    assert check_gl_accounts(m, "sagepro", pattern=r"[\d.]+") == []


def test_a_gl_account_check_never_reads_or_changes_the_mapping() -> None:
    m = load_mapping(SAMPLE_MAPPING)
    before = m.model_dump()
    check_gl_accounts(m, "oracle", known_accounts=set(), pattern=r".*")
    assert m.model_dump() == before


def test_a_broken_mapping_stops_the_definitions_from_loading(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(SAMPLE.replace("  default: \"101.10.12000.000\"", "  default: 7\n  colour: red", 1))
    env = {**os.environ, "PAYSYNC_MAPPING_FILE": str(broken), "DAGSTER_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", "from paysync_dagster.definitions import defs; defs()"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert f"{broken}, line {_line_of(broken.read_text(), 'colour: red')}, key gl_accounts.colour" in result.stderr
