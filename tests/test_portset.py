"""Nmap port lists (``services="1,3-4"``) as compact sets."""

import pytest

from nmapx.model.portset import PortSet


def test_parse_membership_and_round_trip() -> None:
    ports = PortSet.parse("1,3-4,6-7,9,13,65535")
    assert [p in ports for p in (0, 1, 2, 3, 4, 5, 13, 65535)] == [
        False,
        True,
        False,
        True,
        True,
        False,
        True,
        True,
    ]
    assert str(ports) == "1,3-4,6-7,9,13,65535"
    assert len(ports) == 8


def test_overlapping_and_adjacent_ranges_merge() -> None:
    assert str(PortSet.parse("5-10,1-4,8-12")) == "1-12"
    assert str(PortSet.parse("1") | PortSet.parse("2-3")) == "1-3"


@pytest.mark.parametrize("bad", ["1-x", "a", "5-1"])
def test_bad_items_are_named(bad: str) -> None:
    with pytest.raises(ValueError, match=r"bad port range|empty range"):
        PortSet.parse(bad)
