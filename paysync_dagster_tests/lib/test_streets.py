"""A street line's key: two writings of one place share it, another house or a PO box does not."""

from __future__ import annotations

import pytest

from paysync_dagster.lib.streets import same_street, street_key


@pytest.mark.parametrize(("one", "other"), [
    ("2500 North Fourth Avenue", "2500 N 4TH AVE"),
    ("507 W First Ave", "507 West 1st Avenue"),
    ("2001 Western Ave, Suite 300", "2001 Western Avenue"),
    ("123 Main St #3B", "123 Main Street Apt. 3B"),
    ("4720 South Sixth Street", "4720 S 6th St."),
])
def test_two_writings_of_one_place_share_a_key(one: str, other: str) -> None:
    assert street_key(one) == street_key(other) != ""


@pytest.mark.parametrize(("one", "other"), [
    ("507 W First Ave", "509 W First Ave"),
    ("507 W First Ave", "507 E First Ave"),
    ("100 Oak St", "100 Oak Ave"),
])
def test_another_house_or_street_has_another_key(one: str, other: str) -> None:
    assert street_key(one) != street_key(other)


def test_a_line_without_a_house_number_has_no_key() -> None:
    assert street_key("") == street_key("Building 4") == street_key("Cedar Lane") == ""


@pytest.mark.parametrize(("one", "other", "key"), [
    ("P.O. Box 2104", "PO Box 2104", "PO BOX 2104"),
    ("Post Office Box 77", "po box #77", "PO BOX 77"),
    ("Rural Route 1 Box 44", "RR 1 Box 44", "RR 1 BOX 44"),
    ("Rural Rte 2, Box 118", "R.R. 2 Box 118", "RR 2 BOX 118"),
])
def test_boxes_as_the_usps_writes_them(one: str, other: str, key: str) -> None:
    assert street_key(one) == street_key(other) == key


def test_a_street_without_its_suffix_or_spaced_otherwise_is_the_same() -> None:
    assert same_street(street_key("3245 SE Ankeny"), street_key("3245 Southeast Ankeny Street"))
    assert same_street(street_key("190 Half Moon Rd"), street_key("190 Halfmoon Road"))
    assert not same_street(street_key("100 Oak St"), street_key("100 Oak Ave"))
    assert not same_street(street_key("PO Box 12"), "")
