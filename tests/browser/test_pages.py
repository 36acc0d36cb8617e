"""Every page of the app loads in a real browser, with no error or exception shown."""
from __future__ import annotations

import pytest

from urllib.parse import urlparse

from tests.browser.helpers import PAGES, assert_no_errors, goto, wait_until_idle

pytestmark = pytest.mark.browser


def on_path(url: str, path: str) -> bool:
    return urlparse(url).path.rstrip("/") == f"/{path}".rstrip("/")


@pytest.mark.parametrize(("title", "path"), PAGES, ids=[path or "home" for _, path in PAGES])
def test_page_loads_without_errors(page, screenshot, server_log, title, path):
    goto(page, path)
    screenshot(page, f"page-{path or 'home'}")
    assert_no_errors(page, f"page {title!r} (/{path})")
    state = page.locator('[data-testid="stApp"]').get_attribute("data-test-script-state")
    assert state == "notRunning", f"page {title!r}: script state {state!r}\n{server_log()}"
    # The page shows something of its own, not a blank main area.
    assert page.locator('[data-testid="stMain"] [data-testid="stElementContainer"]').count() > 0, \
        f"page {title!r} (/{path}) shows nothing"
    assert on_path(page.url, path), f"expected /{path}, got {page.url}"


def test_sidebar_navigates_to_every_page(page, screenshot):
    """The sidebar lists the six pages by title, and clicking each one opens its url."""
    goto(page, "")
    nav = page.locator('[data-testid="stSidebarNav"]')
    for title, _ in PAGES:
        assert nav.get_by_text(title, exact=True).count() == 1, f"no {title!r} in the sidebar navigation"
    for title, path in reversed(PAGES):  # ends on Home, the default page
        nav.get_by_text(title, exact=True).click()
        page.wait_for_url(lambda url, path=path: on_path(url, path))
        wait_until_idle(page)
        assert_no_errors(page, f"page {title!r} opened from the sidebar")
    screenshot(page, "navigation-back-home")
