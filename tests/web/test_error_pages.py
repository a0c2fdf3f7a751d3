"""The site's own 404 and 500 pages with DEBUG off, and its favicon."""

from __future__ import annotations

from typing import Any

import pytest
from django.template.loader import render_to_string
from django.test import Client

from api.photos import selectors

pytestmark = pytest.mark.django_db


def test_an_unknown_address_is_the_sites_own_404_page_without_the_list_of_url_patterns(settings: Any) -> None:
    settings.DEBUG = False

    response = Client().get("/no-such-page/")

    html = response.content.decode()
    assert response.status_code == 404
    assert "Page not found" in html and 'class="topbar"' in html
    assert "URLconf" not in html and "api/" not in html


def test_a_view_that_fails_answers_the_sites_own_500_page(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.DEBUG = False

    def broken(viewer: Any) -> Any:
        raise RuntimeError("the feed's query failed")

    monkeypatch.setattr(selectors, "listed_photos", broken)
    response = Client(raise_request_exception=False).get("/")

    html = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong" in html and "the feed's query failed" not in html


def test_the_500_page_renders_with_no_request_and_no_database(django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(0):
        html = render_to_string("500.html")

    assert "Something went wrong" in html and "/static/web/site.css" in html


def test_the_favicon_is_linked_from_every_page_and_favicon_ico_leads_to_it() -> None:
    page = Client().get("/").content.decode()
    head = page.split("</head>")[0]
    redirect = Client().get("/favicon.ico")
    icon = Client().get(redirect["Location"])

    assert '<link rel="icon" href="/static/web/favicon.svg" type="image/svg+xml">' in head
    assert redirect.status_code == 302 and redirect["Location"] == "/static/web/favicon.svg"
    assert icon.status_code == 200
    assert b"<svg" in b"".join(icon.streaming_content)  # type: ignore[attr-defined]
