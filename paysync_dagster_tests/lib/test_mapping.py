"""The mapping file: validated with errors naming file, line and key, and refused at definitions load."""

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from paysync_dagster.lib.mapping import SAMPLE_MAPPING, MappingError, load_mapping, parse_mapping

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
        ("  fuzzy_invoice_match: 0.86", "  fuzzy_invoice_match: high", "tolerances.fuzzy_invoice_match"),
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


def test_invalid_yaml_and_duplicate_keys_name_the_line() -> None:
    with pytest.raises(MappingError, match=r"x.yaml, line 3: not valid YAML"):
        parse_mapping("version: 1\nstatuses:\n  paytrace: [unclosed\n", "x.yaml")
    with pytest.raises(MappingError, match=r"x.yaml: line 2: key 'version' appears twice"):
        parse_mapping("version: a\nversion: b\n", "x.yaml")


def test_a_broken_mapping_stops_the_definitions_from_loading(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(SAMPLE.replace("  default: \"101.10.12000.000\"", "  default: 7\n  colour: red", 1))
    env = {**os.environ, "PAYSYNC_MAPPING_FILE": str(broken), "DAGSTER_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", "from paysync_dagster.definitions import defs; defs()"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert f"{broken}, line {_line_of(broken.read_text(), 'colour: red')}, key gl_accounts.colour" in result.stderr
