"""The local multi-replica deployment (deploy/run_local.sh): HAProxy, 2 replicas, an API server, coturn.

One deployment for the module, started with ``--relay-only`` (browsers must send their webcam
through TURN):

- sticky sessions: two browser contexts land on different replicas (the ``X-Replica`` header
  HAProxy adds, and different ``SERVERID`` cookies) and each stays on its own through a rerun,
  a re-navigation, a reload and in-page requests; HAProxy's log shows every websocket of a
  browser going to that browser's replica;
- the webcam through the proxy, relayed by TURN: processed frames arrive, the page's
  RTCPeerConnection was configured for relay only, its selected candidate pair is a relay
  candidate in coturn's port range that carried media both ways, and coturn logged the
  allocation for the run's user;
- the HTTP API through the same proxy: /v1/analyze and /healthz reach the API server, not a replica;
- SIGTERM to the script stops every child (replicas, the API server, HAProxy, coturn).

The module launches its own Chromium with ``--allow-loopback-in-peer-connection``: on a machine
whose only network is the loopback (tried with ``unshare -n``), Chromium otherwise gathers no ICE
candidates at all, not even from a TURN server on 127.0.0.1. The policy is "relay", so the flag
adds no direct path; it only lets the browser reach TURN over the loopback.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.browser.conftest import _free_port
from tests.browser.helpers import (
    CHROMIUM, CHROMIUM_FLAGS, PAGE_TIMEOUT, REPO, VIDEO_PLAYING_JS, assert_no_errors, goto, settle, start_stream,
    stop_stream, unavailable, wait_for_text, wait_until_idle,
)

pytestmark = pytest.mark.browser

SCRIPT = REPO / "deploy" / "run_local.sh"
#: Seconds the deployment may take to be up (two replicas start on 2 shared cores).
START_TIMEOUT = 120

#: Runs in every frame (the webrtc component's iframe included) before its own scripts: keeps
#: each RTCPeerConnection and the configuration it was created with, for the checks below.
RECORD_PEER_CONNECTIONS_JS = """(() => {
    const Native = window.RTCPeerConnection;
    if (!Native || Native.__ferRecorded) return;
    window.__ferPeerConnections = [];
    window.__ferRtcConfigs = [];
    class Recorded extends Native {
        constructor(config, ...rest) {
            super(config, ...rest);
            window.__ferRtcConfigs.push(JSON.parse(JSON.stringify(config || {})));
            window.__ferPeerConnections.push(this);
        }
    }
    Recorded.__ferRecorded = true;
    window.RTCPeerConnection = Recorded;
})();"""

#: The selected candidate pair of each open peer connection in the frame, from getStats().
SELECTED_PAIRS_JS = """async () => {
    const out = [];
    for (const pc of (window.__ferPeerConnections || [])) {
        if (pc.connectionState === 'closed') continue;
        const stats = await pc.getStats();
        let pair = null;
        stats.forEach(r => {
            if (r.type === 'transport' && r.selectedCandidatePairId) pair = stats.get(r.selectedCandidatePairId);
        });
        if (!pair) stats.forEach(r => { if (r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded') pair = r; });
        const local = pair && stats.get(pair.localCandidateId);
        const remote = pair && stats.get(pair.remoteCandidateId);
        out.push({
            connectionState: pc.connectionState,
            policy: pc.getConfiguration().iceTransportPolicy,
            local: local && {type: local.candidateType, address: local.address, port: local.port,
                             protocol: local.protocol, relayProtocol: local.relayProtocol, url: local.url},
            remote: remote && {type: remote.candidateType, address: remote.address, port: remote.port},
            bytesSent: pair ? pair.bytesSent : 0,
            bytesReceived: pair ? pair.bytesReceived : 0,
        });
    }
    return out;
}"""


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


class Deployment:
    """deploy/run_local.sh running in a process group of its own, with its run folder."""

    def __init__(self, run_dir: Path, port: int) -> None:
        self.run_dir, self.url = run_dir, f"http://127.0.0.1:{port}"
        self.out = run_dir.parent / "run_local.out"
        env = {**os.environ, "FER_DEPLOY_TIMEOUT": str(START_TIMEOUT)}
        with open(self.out, "wb") as out:
            self.proc = subprocess.Popen(
                ["bash", str(SCRIPT), "--replicas", "2", "--api", "1", "--port", str(port), "--relay-only",
                 "--run-dir", str(run_dir)],
                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        self.children: dict[str, int] = {}

    def log(self, name: str, chars: int = 3000) -> str:
        try:
            return (self.run_dir / name).read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def read_children(self) -> dict[str, int]:
        """{name: pid} of the children the script has started so far (its pids file)."""
        try:
            lines = (self.run_dir / "pids").read_text().splitlines()
        except OSError:
            return {}
        return {name: int(pid) for name, pid in (line.split() for line in lines if line.strip())}

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not (self.run_dir / "ready").exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                why = f"exited with {self.proc.returncode}" if self.proc.poll() is not None else f"not ready in {timeout:.0f} s"
                pytest.fail(f"deploy/run_local.sh {why}:\n{self.out.read_text(errors='replace')[-3000:]}\n"
                            f"replica-1.log:\n{self.log('replica-1.log')}", pytrace=False)
            time.sleep(0.25)
        self.children = self.read_children()
        self.state = dict(line.split("=", 1) for line in (self.run_dir / "state.env").read_text().splitlines())
        self.state = {k: v.strip('"') for k, v in self.state.items()}

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM to the script alone (its trap stops the children); returns its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        return self.proc.poll()

    def kill_leftovers(self) -> None:
        """Last resort after a failed test: SIGKILL the script's group and each child's group."""
        for pgid in {self.proc.pid, *self.children.values(), *self.read_children().values()}:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, artifacts_dir):
    """deploy/run_local.sh --replicas 2 --relay-only on a free port; its logs are copied to
    <artifacts>/deploy/ at the end."""
    for tool in ("haproxy", "turnserver"):
        if shutil.which(tool) is None and os.geteuid() != 0:
            unavailable(f"{tool} is missing and only root may install it: apt-get install -y haproxy coturn")
    deployment = Deployment(tmp_path_factory.mktemp("deploy") / "run", _free_port())
    started = time.monotonic()
    try:
        deployment.wait_ready(START_TIMEOUT + 60)  # + the apt-get install on a fresh machine
        print(f"deployment up in {time.monotonic() - started:.1f} s: {deployment.url}")
        yield deployment
    finally:
        if deployment.stop() is None or any(_alive(p) for p in deployment.read_children().values()):
            deployment.kill_leftovers()
        keep = artifacts_dir / "deploy"
        keep.mkdir(parents=True, exist_ok=True)
        for log in [deployment.out, *deployment.run_dir.glob("*.log")]:
            shutil.copy(log, keep / log.name)


@pytest.fixture(scope="module")
def relay_browser(browser, fake_camera):
    """A second Chromium like the suite's (same Playwright: a second one cannot run in this
    thread), with the astronaut as its camera, allowed to use the loopback for WebRTC."""
    relay = browser.browser_type.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS + [
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={fake_camera}", "--allow-loopback-in-peer-connection"])
    yield relay
    relay.close()


@pytest.fixture
def contexts(relay_browser, deployment):
    """new(): a fresh browser context (a separate user) on the deployment; all closed afterwards."""
    opened = []

    def new():
        ctx = relay_browser.new_context(viewport={"width": 1280, "height": 900}, base_url=deployment.url)
        ctx.grant_permissions(["camera"], origin=deployment.url)
        ctx.set_default_timeout(PAGE_TIMEOUT * 1000)
        opened.append(ctx)
        return ctx

    yield new
    for ctx in opened:
        ctx.close()


def replica_of(response) -> str:
    replica = response.headers.get("x-replica")
    assert replica, f"no X-Replica header on {response.url}: {response.headers}"
    return replica


def open_home(ctx):
    """A page of ``ctx`` on the home page; returns (page, the replica that served it)."""
    page = ctx.new_page()
    response = page.goto("/", wait_until="domcontentloaded")
    settle(page)
    assert_no_errors(page, "home page through HAProxy")
    return page, replica_of(response)


def server_cookie(ctx) -> str:
    values = [c["value"] for c in ctx.cookies() if c["name"] == "SERVERID"]
    assert len(values) == 1, f"expected one SERVERID cookie, got {ctx.cookies()}"
    return values[0]


def websocket_servers(haproxy_log: str) -> dict[str, set[str]]:
    """{SERVERID cookie the browser sent: replicas its websockets (/_stcore/stream) went to}."""
    servers: dict[str, set[str]] = {}
    pattern = re.compile(r" streamlit/(\S+) .* SERVERID=(\w+) \S+ \S+ .*\"GET /_stcore/stream")
    for match in pattern.finditer(haproxy_log):
        servers.setdefault(match.group(2), set()).add(match.group(1))
    return servers


def test_two_users_are_pinned_to_different_replicas(deployment, contexts):
    first, second = contexts(), contexts()
    page_a, replica_a = open_home(first)
    page_b, replica_b = open_home(second)  # leastconn: the replica without the first websocket
    cookie_a, cookie_b = server_cookie(first), server_cookie(second)
    print(f"first user on {replica_a} (SERVERID={cookie_a}), second on {replica_b} (SERVERID={cookie_b})")
    assert {replica_a, replica_b} == {"r1", "r2"}, "both users were sent to the same replica"
    assert cookie_a != cookie_b

    # A rerun (the sidebar's page link: over the websocket), then requests from the page, a new
    # navigation and a reload: always the same replica, and the cookie is not replaced.
    page_a.get_by_role("link", name="Photo analysis").first.click()
    page_a.wait_for_function("() => location.pathname.endsWith('/photo')", timeout=30_000)
    wait_until_idle(page_a)
    assert_no_errors(page_a, "photo page after the rerun")
    fetched = page_a.evaluate("""async () => {
        const out = [];
        for (let i = 0; i < 4; i++) out.push((await fetch('/_stcore/health')).headers.get('x-replica'));
        return out;
    }""")
    assert fetched == [replica_a] * 4, f"the page's own requests went to {fetched}, not {replica_a}"
    assert replica_of(page_a.goto("/webcam", wait_until="domcontentloaded")) == replica_a
    settle(page_a)
    assert replica_of(page_a.reload(wait_until="domcontentloaded")) == replica_a
    settle(page_a)
    assert replica_of(page_b.reload(wait_until="domcontentloaded")) == replica_b
    settle(page_b)
    assert (server_cookie(first), server_cookie(second)) == (cookie_a, cookie_b)

    # HAProxy logs a websocket when it closes: every one of each browser went to its replica.
    first.close()
    second.close()
    deadline = time.monotonic() + 10
    while True:
        seen = websocket_servers(deployment.log("haproxy.log", 200_000))
        if (len(seen.get(cookie_a, ())) and len(seen.get(cookie_b, ()))) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert seen.get(cookie_a) == {replica_a} and seen.get(cookie_b) == {replica_b}, (
        f"websockets by cookie: {seen}; expected {cookie_a}: {replica_a}, {cookie_b}: {replica_b}")


def test_webcam_streams_through_the_proxy_relayed_by_turn(deployment, contexts):
    ctx = contexts()
    ctx.add_init_script(RECORD_PEER_CONNECTIONS_JS)
    page = ctx.new_page()
    goto(page, "webcam")
    assert_no_errors(page, "webcam page through HAProxy")

    def server_log() -> str:
        return "\n".join(f"{name}:\n{deployment.log(name, 1500)}"
                         for name in ("replica-1.log", "replica-2.log", "turnserver.log"))

    frame = start_stream(page, server_log)
    first = int(wait_for_text(page, re.compile(r"(\d+) frames analysed on the server"), 10).group(1))
    time.sleep(3)
    later = int(wait_for_text(page, re.compile(r"(\d+) frames analysed on the server"), 10).group(1))
    assert later > first, f"no more frames analysed after 3 s ({first} → {later})"

    configs = frame.evaluate("() => window.__ferRtcConfigs || []")
    assert configs, "the webrtc iframe created no RTCPeerConnection that the test could see"
    turn_url = deployment.state["TURN_URL"]
    assert configs[-1].get("iceTransportPolicy") == "relay", f"the page's RTC configuration: {configs[-1]}"
    assert any(turn_url in server.get("urls", []) for server in configs[-1]["iceServers"]), configs[-1]

    def live_pairs() -> list[dict]:
        pairs = frame.evaluate(SELECTED_PAIRS_JS)
        return [p for p in pairs if p["connectionState"] == "connected" and p["local"]]

    # media both ways: the answer's video can start seconds after the first analysed frame on a busy machine
    deadline = time.monotonic() + 30
    while True:
        live = live_pairs()
        flowing = live and live[-1]["bytesSent"] > 10_000 and live[-1]["bytesReceived"] > 10_000
        if flowing or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    print(f"selected candidate pairs: {live}")
    low, high = map(int, deployment.state["RELAY_PORTS"].split("-"))
    assert live, f"no connected peer connection with a selected candidate pair: {frame.evaluate(SELECTED_PAIRS_JS)}"
    pair = live[-1]
    assert pair["policy"] == "relay"
    assert pair["local"]["type"] == "relay", f"the media does not go through TURN: {pair}"
    assert pair["local"]["address"] == "127.0.0.1" and low <= pair["local"]["port"] <= high, pair
    assert pair["bytesSent"] > 10_000 and pair["bytesReceived"] > 10_000, f"little media on the relay: {pair}"

    # coturn's side: the run's user got an allocation (a relay port) and permissions for its peer.
    turn_log = deployment.log("turnserver.log", 500_000)
    user = deployment.state["TURN_USER"]
    assert re.search(rf"user <{user}>: incoming packet ALLOCATE processed, success", turn_log), turn_log[-3000:]
    assert re.search(rf"user <{user}>: incoming packet CREATE_PERMISSION processed, success", turn_log), turn_log[-3000:]
    assert f"Local relay addr: 127.0.0.1:{pair['local']['port']}" in turn_log, (
        f"coturn logged no allocation of the browser's relay port {pair['local']['port']}:\n{turn_log[-3000:]}")

    stop_stream(frame)
    assert not frame.evaluate(VIDEO_PLAYING_JS)
    page.close()


def test_the_api_answers_through_the_proxy(deployment):
    import requests

    photo = (REPO / "fer_core" / "assets" / "astronaut.jpg").read_bytes()
    reply = requests.post(deployment.url + "/v1/analyze", files={"image": ("astronaut.jpg", photo)}, timeout=120)
    assert reply.status_code == 200, reply.text
    assert reply.headers.get("x-replica") == "a1", reply.headers
    faces = reply.json()["faces"]
    assert len(faces) == 1 and faces[0]["label"] == "Happy", faces
    assert requests.get(deployment.url + "/healthz", timeout=10).headers.get("x-replica") == "a1"
    assert requests.get(deployment.url + "/_stcore/health", timeout=10).headers.get("x-replica") in ("r1", "r2")


def test_sigterm_stops_every_child(deployment):
    children = dict(deployment.children)
    assert set(children) == {"turnserver", "replica-1", "replica-2", "api-1", "haproxy"}, children
    assert all(_alive(pid) for pid in children.values()), "a child died during the tests"
    started = time.monotonic()
    code = deployment.stop(timeout=30)
    took = time.monotonic() - started
    assert code == 143, f"run_local.sh exit code after SIGTERM: {code}"
    left = [name for name, pid in children.items() if _alive(pid)]
    assert not left, f"still running after the script stopped: {left}"
    print(f"stopped every child in {took:.1f} s")
    assert not (deployment.run_dir / "turnserver.conf").exists(), "the file with the TURN password was left"
