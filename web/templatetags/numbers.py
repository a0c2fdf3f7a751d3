"""``{{ value|fixed:3 }}``: a number with that many decimals, or nothing for None.

Django's ``floatformat`` localises through Decimal and costs about 0.1 ms a call: the staff
dashboard's tables call it a hundred and fifty times a page. The site is not localised, so a
plain format does."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def fixed(value: float | int | str | None, decimals: int = 2) -> str:
    if value is None or value == "":
        return ""
    try:
        return f"{float(value):.{int(decimals)}f}"
    except (TypeError, ValueError):
        return ""
