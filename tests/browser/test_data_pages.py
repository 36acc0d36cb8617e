"""Speed of the data pages: with FER2013's parse cache in place, a fresh server opens them quickly.

Each timing test starts its own server (so the page's first open is the server's first data
load) with ``FER_CACHE_DIR`` pointing to a folder that one run of the cache fill prepared
beforehand. A separate server with an empty cache shows the progress bar of a first parse.
Every server here runs the fast model (``FER_MODEL``): these tests time the parse and prediction
caches, not a network, and the evaluation page's PrivateTest predictions take a few seconds with it.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from fer_core.data.fer2013 import resolve_data_path
from fer_core.catalog.model import MODEL_ENV, live_model_dir
from fer_core.data.parse_cache import CACHE_ENV
from tests.browser.conftest import run_server
from tests.browser.helpers import REPO, assert_no_errors, main_text, wait_until_idle

pytestmark = pytest.mark.browser

#: Targets of issue 11: seconds for a page's first open on a fresh server whose parse cache
#: exists, and for reopening it. The tests print what they measured and assert generous bounds:
#: three times the targets, because this machine shares its two cores with a training job and
#: other work, times the load beyond one runnable process per core when the test starts (at a
#: load average of 9 on 2 cores everything here runs 4-5 times slower; the evaluation page's
#: first open then spends most of a minute classifying the 3,589 PrivateTest faces).
FIRST_OPEN_TARGET_S = 8.0
REOPEN_TARGET_S = 5.0


def slack() -> float:
    load = os.getloadavg()[0] / (os.cpu_count() or 1)
    return 3.0 * max(1.0, load)

#: What every server here gets: the fast model as the default model (see above).
FAST_MODEL = {MODEL_ENV: str(live_model_dir())}

PAGES = {"dataset": "35,887 images from", "evaluation": "Misclassified examples"}


@pytest.fixture(scope="module")
def data_file():
    path = resolve_data_path()
    if not path.is_file():
        pytest.fail(f"FER2013 not found at {path}: set FER_DATA", pytrace=False)
    return path


@pytest.fixture(scope="module")
def filled_cache(tmp_path_factory, data_file):
    """A cache folder filled by one run of the cache fill (in its own process): the parsed CSV and the
    (fast) default model's PrivateTest predictions (what a server that has served the pages once keeps)."""
    folder = tmp_path_factory.mktemp("parse-cache")
    env = dict(os.environ, **FAST_MODEL, **{CACHE_ENV: str(folder), "FER_DATA": str(data_file)})
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    fill = ("from fer_core.data.parse_cache import load_fer2013_cached; from fer_core.inference.classifier import Classifier; "
            "from fer_core.evaluation.prediction_cache import cached_probabilities; "
            "cached_probabilities(Classifier.load(), load_fer2013_cached().split('PrivateTest')[0], 'none')")
    subprocess.run([sys.executable, "-c", fill], cwd=REPO, env=env, check=True, timeout=600)
    files = list(folder.glob("*.npz"))
    assert len(files) == 1, f"the cache fill left {files} in {folder}"
    assert len(list(folder.glob("predictions-*.npy"))) == 1  # the evaluation gallery's PrivateTest predictions
    return folder


def _stamp(folder):
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.iterdir()}


def timed_open(page, path: str) -> tuple[float, float]:
    """Opens a page; returns (seconds until its run finished, seconds including the 1 s idle check).

    The first is measured by the browser's clock, from before the navigation to the moment the
    app went idle for good (``window.__ferIdleSince`` of helpers.wait_until_idle)."""
    start = page.evaluate("Date.now()")
    page.goto("/" + path, wait_until="domcontentloaded")
    wait_until_idle(page)
    idle_since, now = page.evaluate("[window.__ferIdleSince, Date.now()]")
    return (idle_since - start) / 1000, (now - start) / 1000


@pytest.mark.parametrize("path", list(PAGES))
def test_data_page_opens_fast_from_the_parse_cache(open_page, screenshot, artifacts_dir, filled_cache, path):
    before = _stamp(filled_cache)
    bound = slack()
    log = artifacts_dir / f"streamlit-server-{path}-cached.log"
    with run_server(log, {CACHE_ENV: str(filled_cache), **FAST_MODEL}) as server:
        page = open_page(server, path)
        page.goto("/_stcore/health")  # the browser's own start-up is not the page's (no app session yet)
        first, first_wall = timed_open(page, path)
        assert_no_errors(page, f"/{path}, first open")
        assert PAGES[path] in main_text(page), f"/{path} does not show {PAGES[path]!r}"
        screenshot(page, f"{path}-from-parse-cache")
        again, again_wall = timed_open(page, path)
        assert_no_errors(page, f"/{path}, reopened")
        assert PAGES[path] in main_text(page)
        server.check_alive()
    print(f"\n/{path} on a fresh server with the parse cache: first open {first:.1f} s "
          f"(target {FIRST_OPEN_TARGET_S:.0f} s; {first_wall:.1f} s with the idle check), "
          f"reopen {again:.1f} s (target {REOPEN_TARGET_S:.0f} s; {again_wall:.1f} s); "
          f"bounds {bound:.1f} x the targets (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    assert _stamp(filled_cache) == before, "the server parsed the CSV again instead of reading its cache"
    assert first <= bound * FIRST_OPEN_TARGET_S, f"/{path} took {first:.1f} s to open on a fresh server"
    assert again <= bound * REOPEN_TARGET_S, f"/{path} took {again:.1f} s to reopen"


def test_first_parse_shows_a_progress_bar(open_page, screenshot, artifacts_dir, tmp_path, data_file):
    """With an empty cache the dataset page shows a progress bar while it parses, and fills the cache."""
    folder = tmp_path / "empty-cache"
    log = artifacts_dir / "streamlit-server-empty-cache.log"
    with run_server(log, {CACHE_ENV: str(folder), **FAST_MODEL}) as server:
        page = open_page(server, "first-parse")
        page.goto("/dataset", wait_until="domcontentloaded")
        bar = page.locator('[data-testid="stProgress"]').first
        bar.wait_for(state="visible", timeout=120_000)
        text = bar.inner_text()
        screenshot(page, "dataset-first-parse-progress", full_page=False)
        print(f"\nprogress bar during the first parse: {text!r}")
        assert "for the first time" in text and "rows" in text, text
        wait_until_idle(page)
        assert page.locator('[data-testid="stProgress"]').count() == 0, "the progress bar stays after the parse"
        assert_no_errors(page, "/dataset after a first parse")
        assert PAGES["dataset"] in main_text(page)
        assert len(list(folder.glob("*.npz"))) == 1, "the first parse did not fill the cache"
        page.goto("/evaluation", wait_until="domcontentloaded")  # the cached result replays no bar
        wait_until_idle(page)
        assert page.locator('[data-testid="stProgress"]').count() == 0
        assert_no_errors(page, "/evaluation after the dataset page's first parse")
        server.check_alive()
