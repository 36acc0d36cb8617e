"""Real-browser fixtures: a Streamlit server, Debian's Chromium driven by Playwright, a fake webcam.

The suite drives the real app (``streamlit_app.py`` at the repo root) in a real Chromium, the way
a person would: every page, a photo upload, and the live webcam path (WebRTC) fed by a fake camera
that shows scikit-image's astronaut (a real, smiling face). See README.md beside this file.

Environment:
    CI=true              missing Chromium/Playwright FAILS the tests (never a silent skip).
    FER_MODELS_DIR       passed through to the app; when unset the repo's bundled model is used
                         and the tests insist on the label "Happy" for the astronaut.
    FER_STRICT_LABELS    1/0 forces that strict check on/off whatever the model.
    FER_ARTIFACTS        where screenshots/ and the server log go (default: <repo>/artifacts).
    FER_CHROMIUM         the Chromium binary (default: /usr/bin/chromium).
    FER_APP_DIR          folder holding streamlit_app.py (default: the repo root).
    FER_BROWSER_TIMEOUT  seconds to wait for a page to be ready (default: 90).
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.browser.helpers import (
    APP_DIR, APP_FILE, ARTIFACTS, CHROMIUM, CHROMIUM_FLAGS, PAGE_TIMEOUT, REPO, SCREENSHOTS,
    astronaut_rgb, camera_frame, unavailable, write_y4m,
)

HERE = Path(__file__).resolve().parent


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: real-browser tests (Streamlit server + headless Chromium)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keeps each phase's report on the item, so the page fixture can screenshot failures."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook reads the xdist_group marks
def pytest_collection_modifyitems(config, items):
    """Marks the browser tests, and keeps them in one pytest-xdist group: one worker runs them in
    order against one session server, while the other workers run the unit tests."""
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.xdist_group("browser"))


# --------------------------------------------------------------------------- the server


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group, then SIGKILL it if it has not gone in 15 s."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=15)
            return
        except subprocess.TimeoutExpired:
            pass
    try:  # the leader may be gone while children of its group are left
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


class Server(str):
    """The server's base URL (a str) that also knows its process and log."""

    def __new__(cls, url: str, proc: subprocess.Popen, log: Path):
        self = super().__new__(cls, url)
        self.proc, self.log = proc, log
        return self

    def check_alive(self) -> None:
        """Fails the test at once when the server process has died (with the end of its log)."""
        code = self.proc.poll()
        if code is not None:
            reason = f"signal {-code}" if code < 0 else f"exit code {code}"
            pytest.fail(f"the Streamlit server (pid {self.proc.pid}) has died ({reason}); end of its log:\n"
                        f"{_tail(self.log)}", pytrace=False)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def server_log_path(artifacts_dir) -> Path:
    return artifacts_dir / "streamlit-server.log"


@contextmanager
def run_server(log_path: Path, extra_env: dict[str, str] | None = None):
    """A Streamlit server running the app on a free loopback port; yields its base URL (a Server).

    ``extra_env`` is added to the server's environment (e.g. ``FER_MAX_STREAMS``)."""
    app = APP_DIR / APP_FILE
    if not app.exists():
        pytest.fail(f"the app is missing: {app}", pytrace=False)
    port = _free_port()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("MALLOC_ARENA_MAX", "2")  # as deploy/Dockerfile and run_local.sh (docs/operations.md)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONFAULTHANDLER"] = "1"  # a crash of the server leaves every thread's stack in its log
    env.update(extra_env or {})
    cmd = [
        # $FER_APP_PYTHON: the app under another environment's Python (e.g. the runtime install without TensorFlow)
        os.environ.get("FER_APP_PYTHON") or sys.executable, "-m", "streamlit", "run", APP_FILE,
        "--server.headless", "true",
        "--server.address", "127.0.0.1",
        "--server.port", str(port),
        "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
    ]
    base = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=APP_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while not _healthy(base + "/_stcore/health"):
                if proc.poll() is not None:
                    pytest.fail(f"streamlit exited with {proc.returncode}:\n{_tail(log_path)}", pytrace=False)
                if time.monotonic() > deadline:
                    pytest.fail(f"streamlit not healthy after 60 s:\n{_tail(log_path)}", pytrace=False)
                time.sleep(0.25)
            yield Server(base, proc, log_path)
        finally:
            _stop_group(proc)


@pytest.fixture(scope="session")
def streamlit_server(artifacts_dir, server_log_path) -> str:
    """A Streamlit server running the app on a free loopback port; yields its base URL (a Server)."""
    with run_server(server_log_path) as server:
        yield server


@pytest.fixture(scope="module")
def one_stream_server(artifacts_dir) -> str:
    """A second server that admits a single live stream (``FER_MAX_STREAMS=1``), for the queue test;
    its log is <artifacts>/streamlit-server-one-stream.log."""
    with run_server(artifacts_dir / "streamlit-server-one-stream.log", {"FER_MAX_STREAMS": "1"}) as server:
        yield server


@pytest.fixture
def server_log(streamlit_server, server_log_path):
    """server_log(): the end of what the server has logged so far (for failure messages)."""
    return lambda: _tail(server_log_path)


# --------------------------------------------------------------------------- test media


@pytest.fixture(scope="session")
def fake_camera(tmp_path_factory) -> Path:
    """A 640x480, 15 fps, 3 s y4m clip of the astronaut for --use-file-for-fake-video-capture."""
    return write_y4m(tmp_path_factory.mktemp("camera") / "astronaut.y4m", camera_frame())


@pytest.fixture(scope="session")
def astronaut_jpeg(tmp_path_factory) -> Path:
    """The astronaut photo as a JPEG file, to upload."""
    from PIL import Image

    path = tmp_path_factory.mktemp("photos") / "astronaut.jpg"
    Image.fromarray(astronaut_rgb()).save(path, format="JPEG", quality=92)
    return path


# --------------------------------------------------------------------------- the browser


@pytest.fixture(scope="session")
def browser(fake_camera):
    """Debian's headless Chromium (driven by Playwright) with the astronaut as its camera."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        unavailable(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        unavailable(f"the playwright package is missing ({error}): pip install playwright")
    manager = sync_playwright().start()
    try:
        chromium = manager.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS + [
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={fake_camera}",
            ],
        )
    except Exception as error:  # a broken install counts as a missing one
        manager.stop()
        unavailable(f"Chromium at {CHROMIUM} does not start under Playwright: {error}")
    yield chromium
    chromium.close()
    manager.stop()


def new_context(browser, server):
    """A fresh browser context (own cookies, own Streamlit session) on ``server``, with camera permission."""
    server.check_alive()
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=server)
    ctx.grant_permissions(["camera"], origin=server)
    ctx.set_default_timeout(PAGE_TIMEOUT * 1000)
    return ctx


@pytest.fixture
def context(browser, streamlit_server):
    """A fresh browser context (own cookies, own Streamlit session) with camera permission."""
    ctx = new_context(browser, streamlit_server)
    yield ctx
    ctx.close()


@pytest.fixture
def open_page(browser, request):
    """open_page(server, name): a page in a context of its own (a separate user) on ``server``.

    Every page is closed after the test; a failing test leaves FAILED-<test>-<name>.png of each.
    """
    opened = []

    def open_(server, name: str):
        ctx = new_context(browser, server)
        opened.append((name, ctx, ctx.new_page()))
        return opened[-1][2]

    yield open_
    report = getattr(request.node, "report_call", None)
    for name, ctx, page in opened:
        if report is not None and report.failed:
            try:
                take_screenshot(page, f"FAILED-{request.node.name}-{name}")
            except Exception:  # the page may be gone; the failure itself is what matters
                pass
        ctx.close()


@pytest.fixture
def page(context, request, streamlit_server):
    """A page of the context; page.console_errors collects the browser's console errors.

    A failing test leaves a screenshot FAILED-<test>.png in the screenshots folder, and the
    browser's console errors in <artifacts>/FAILED-<test>.console.txt.
    """
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda msg: page.console_errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda err: page.console_errors.append(str(err)))
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"FAILED-{request.node.name}")
        try:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            take_screenshot(page, name)
        except Exception:  # the page may be gone; the failure itself is what matters
            pass
        if page.console_errors:
            (ARTIFACTS / f"{name}.console.txt").write_text("\n".join(page.console_errors))
        streamlit_server.check_alive()  # says so when the failure was the server's death


#: Streamlit scrolls inside its main area, so a full-page shot only shows the viewport; the
#: viewport is made as tall as the content (up to this many pixels) for the shot.
MAX_SHOT_HEIGHT = 6000


def take_screenshot(page, name: str, full_page: bool = True) -> Path:
    path = SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"
    size = page.viewport_size
    height = 0
    if full_page and size:
        height = page.evaluate(
            """() => Math.max(...['stMain', 'stSidebarContent'].map(id => {
                const el = document.querySelector(`[data-testid="${id}"]`);
                return el ? el.scrollHeight : 0;
            }))"""
        )
    tall = size and height > size["height"]
    if tall:
        page.set_viewport_size({"width": size["width"], "height": min(int(height), MAX_SHOT_HEIGHT)})
        page.wait_for_timeout(300)  # let the layout and the charts follow the new size
    try:
        page.screenshot(path=str(path), full_page=full_page, timeout=30_000)
    finally:
        if tall:
            page.set_viewport_size(size)
    return path


@pytest.fixture
def screenshot(artifacts_dir):
    """screenshot(page, name): a PNG of the whole page in <artifacts>/screenshots/; returns its path."""
    return take_screenshot
