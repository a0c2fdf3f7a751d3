"""``{{ value|fixed:N }}`` (web/templatetags/numbers.py), the dashboard's number format."""

from __future__ import annotations

from django.template import Context, Template


def rendered(value: object, decimals: int) -> str:
    return Template("{% load numbers %}{{ value|fixed:" + str(decimals) + " }}").render(
        Context({"value": value})
    )


def test_a_number_is_written_with_the_decimals_asked_for() -> None:
    assert rendered(0.61234, 3) == "0.612"
    assert rendered(1, 2) == "1.00"
    assert rendered("0.5", 2) == "0.50"


def test_nothing_is_written_for_a_missing_or_unreadable_value() -> None:
    assert rendered(None, 3) == ""
    assert rendered("", 2) == ""
    assert rendered("n/a", 2) == ""
