"""What browser tests do with a Playwright page: log in, drop files on the upload zone, take
screenshots (into ``test-artifacts/screenshots/``). The browser and page fixtures are in
tests/conftest.py."""

from __future__ import annotations

import base64

from playwright.sync_api import Page, expect

from tests.helpers.paths import REPO

SHOTS = REPO / "test-artifacts" / "screenshots"


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def log_in(page: Page, username: str, password: str = "a-strong-pass-42") -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("link", name=username, exact=True)).to_be_visible()


def drop_files(page: Page, selector: str, files: list[tuple[str, bytes]]) -> None:
    """Drag-and-drop as the browser does it: a DataTransfer holding real File objects."""
    payload = [
        {"name": name, "b64": base64.b64encode(data).decode(), "type": "image/jpeg"} for name, data in files
    ]
    transfer = page.evaluate_handle(
        """(files) => {
            const dt = new DataTransfer();
            for (const f of files) {
                const bytes = Uint8Array.from(atob(f.b64), c => c.charCodeAt(0));
                dt.items.add(new File([bytes], f.name, {type: f.type}));
            }
            return dt;
        }""",
        payload,
    )
    page.dispatch_event(selector, "dragenter", {"dataTransfer": transfer})
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})
