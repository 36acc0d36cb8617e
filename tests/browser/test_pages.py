"""Every page of the app loads in a real browser, with no error or exception shown."""
from __future__ import annotations

from urllib.parse import urlparse

import pytest

from tests.browser.helpers import PAGES, assert_no_errors, goto, main_text, settle

pytestmark = pytest.mark.browser


def on_path(url: str, path: str) -> bool:
    return urlparse(url).path.rstrip("/") == f"/{path}".rstrip("/")


@pytest.mark.parametrize(("title", "path"), PAGES, ids=[path or "home" for _, path in PAGES])
def test_page_loads_without_errors(page, screenshot, server_log, title, path):
    goto(page, path)
    screenshot(page, f"page-{path or 'home'}")
    assert_no_errors(page, f"page {title!r} (/{path})")
    state = page.locator('[data-testid="stApp"]').get_attribute("data-test-script-state")
    assert state != "compilationError", f"page {title!r} does not compile:\n{server_log()}"
    # The page shows something of its own, not a blank main area.
    assert page.locator('[data-testid="stMain"] [data-testid="stElementContainer"]').count() > 0, \
        f"page {title!r} (/{path}) shows nothing"
    href = page.evaluate("location.href")
    assert on_path(href, path), f"expected /{path}, got {href}"


def test_sidebar_navigates_to_every_page(page, screenshot):
    """The sidebar lists every page by title, and clicking each one opens its url."""
    goto(page, "")
    nav = page.locator('[data-testid="stSidebarNav"]')
    for title, _ in PAGES:
        assert nav.get_by_text(title, exact=True).count() == 1, f"no {title!r} in the sidebar navigation"
    for title, path in reversed(PAGES):  # ends on Home, the default page
        before = main_text(page)
        nav.get_by_text(title, exact=True).click()
        # Streamlit sets the url (with the History API, which Playwright's page.url can lag behind)
        # from the new page's script run; then that run must finish.
        page.wait_for_function("p => location.pathname.replace(/\\/+$/, '') === p",
                               arg=f"/{path}".rstrip("/"))
        page.wait_for_function("t => document.querySelector('[data-testid=\"stMain\"]').innerText !== t",
                               arg=before)
        settle(page)
        assert_no_errors(page, f"page {title!r} opened from the sidebar")
    screenshot(page, "navigation-back-home")


def _metric(page, label: str) -> str | None:
    """The value of the st.metric whose label is ``label`` (None when the page has none)."""
    return page.evaluate(
        """label => {
            for (const m of document.querySelectorAll('[data-testid="stMetric"]')) {
                const l = m.querySelector('[data-testid="stMetricLabel"]');
                const v = m.querySelector('[data-testid="stMetricValue"]');
                if (l && v && l.innerText.trim() === label) return v.innerText.trim();
            }
            return null;
        }""", label)


def test_home_and_evaluation_show_the_same_figure(page, screenshot):
    """The default model's PrivateTest accuracy, with its TTA named, is the same on both pages."""
    from fer_core.catalog.evaluations import headline, load_evaluations, tta_name
    from fer_core.catalog.model import default_model_dir, read_metadata

    folder = default_model_dir()
    best = headline(load_evaluations(folder), "PrivateTest", read_metadata(folder)["inference"]["tta"])
    assert best is not None, f"{folder.name} has no PrivateTest evaluation"
    label = f"PrivateTest accuracy ({tta_name(best.tta)})"
    goto(page, "")
    home = _metric(page, label)
    goto(page, "evaluation")
    evaluation = _metric(page, label)
    screenshot(page, "evaluation-headline")
    assert home == evaluation == f"{best.accuracy:.1%}", (label, home, evaluation)
