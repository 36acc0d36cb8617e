"""Load test of the live webcam: K headless-browser sessions stream a fake camera for S seconds.

Each session is a browser context of its own (a separate user) in Debian's Chromium driven by
Playwright; the camera is a y4m clip of scikit-image's astronaut (a real face), as in the
browser tests. Every session opens the webcam page and presses Start; once all play, the script
reads for S seconds what each page says ("N frames analysed on the server") and reports the
frames the server analysed per second for each session, its longest gap (a session with a gap
of --stall-s or more, or no frames, is stalled), the server's CPU and resident memory (from
/proc), the browser's CPU, what else ran on the machine, and the machine's load.

The server's own cost is reported apart from the browsers': per analysed frame, per stream, and
per stream at --target-fps, with the stream limit ``ui.stream_slots.derived_max_streams`` draws
from it for this machine's cores. So that the browsers disturb it little, they (this script and
its children: the Playwright driver and Chromium) run at a lower priority (--browser-nice,
default 10) and, with --browser-cpus, on the given cores only; a server started here keeps
the normal priority and every core.

    .venv/bin/python scripts/load_webcam.py --sessions 2 --seconds 30            # starts a server
    .venv/bin/python scripts/load_webcam.py --url http://127.0.0.1:8500 --run-dir RUN   # run_local.sh

Without --url the script starts ``streamlit run streamlit_app.py`` itself on a free port with
FER_MAX_STREAMS = the number of sessions (--max-streams changes it). With --url it measures
the processes named by --pid, or the replicas listed in the --run-dir of deploy/run_local.sh.
Only 127.0.0.1/localhost URLs are accepted unless --allow-remote is given. The browser runs on
the same machine and shares its cores with the server: the rates are a lower bound.

    .venv/bin/python scripts/load_webcam.py -k 1 -s 30 --camera-fps 15 --browser-nice 19  # one stream's cost
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ANALYSED_JS = r"""() => {
    const main = document.querySelector('[data-testid="stMain"]');
    const m = main && main.innerText.match(/(\d+) frames analysed on the server/);
    return m ? Number(m[1]) : -1;
}"""
WEBRTC_IFRAME = 'iframe[title="streamlit_webrtc.component.webrtc_streamer"]'
PAGE_TIMEOUT_S = 120
MAX_SESSIONS, MAX_SECONDS = 16, 600
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- /proc readings
def proc_tree(root: int) -> list[int]:
    """``root`` and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by ``pids``."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / CLK_TCK


def rss_mb(pids: list[int]) -> float:
    """Resident memory of ``pids`` together, in MB."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, ValueError):
            pass
    return total / 1024


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all cores, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


class Sampler(threading.Thread):
    """Samples the server processes' CPU and memory every second while the window runs."""

    def __init__(self, roots: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.roots, self.stop = roots, threading.Event()
        self.peak_rss = 0.0
        self.samples_rss: list[float] = []

    def pids(self) -> list[int]:
        return [p for root in self.roots.values() for p in proc_tree(root)]

    def cpu_by_root(self) -> dict[str, float]:
        """CPU seconds used so far by each root process with its children."""
        return {name: cpu_seconds(proc_tree(pid)) for name, pid in self.roots.items()}

    def run(self) -> None:
        while not self.stop.wait(1.0):
            rss = rss_mb(self.pids())
            self.samples_rss.append(rss)
            self.peak_rss = max(self.peak_rss, rss)


# --------------------------------------------------------------------------- a server of our own
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def start_server(max_streams: int, log_path: Path) -> tuple[str, subprocess.Popen]:
    """``streamlit run streamlit_app.py`` on a free loopback port, in a process group of its own."""
    port = free_port()
    env = {"MALLOC_ARENA_MAX": "2", **os.environ, "FER_MAX_STREAMS": str(max_streams), "PYTHONUNBUFFERED": "1",
           "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    cmd = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
           "--server.address", "127.0.0.1", "--server.port", str(port), "--server.fileWatcherType", "none",
           "--browser.gatherUsageStats", "false"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while not healthy(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_server(proc)
            tail = log_path.read_text(errors="replace")[-3000:]
            sys.exit(f"load_webcam: the server did not start; end of its log:\n{tail}")
        time.sleep(0.25)
    return url, proc


def stop_server(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


# --------------------------------------------------------------------------- sessions
@dataclass
class Session:
    name: str
    replica: str = "-"
    frames: int = 0
    fps: float = 0.0
    max_gap_s: float = 0.0
    stalled: bool = False
    error: str = ""
    samples: list[tuple[float, int]] = field(default_factory=list, repr=False)


def wait_idle(page, timeout_s: float) -> None:
    """The app is connected and its script run has finished (as in tests/browser/helpers.py)."""
    page.wait_for_function(
        """() => {
            const app = document.querySelector('[data-testid="stApp"]');
            return !!app && app.getAttribute('data-test-connection-state') === 'CONNECTED'
                && app.getAttribute('data-test-script-state') === 'notRunning';
        }""", timeout=timeout_s * 1000, polling=250)


def open_session(browser, url: str, session: Session):
    """A new context on the webcam page with its stream started; returns the page."""
    ctx = browser.new_context(viewport={"width": 1100, "height": 800}, base_url=url)
    ctx.grant_permissions(["camera"], origin=url)
    ctx.set_default_timeout(PAGE_TIMEOUT_S * 1000)
    page = ctx.new_page()
    response = page.goto("/webcam", wait_until="domcontentloaded")
    if response is not None:
        session.replica = response.headers.get("x-replica", "-")
    wait_idle(page, PAGE_TIMEOUT_S)
    frame = page.frame_locator(WEBRTC_IFRAME).first
    frame.get_by_role("button", name="Start").click()
    page.wait_for_function(f"() => ({ANALYSED_JS})() > 0", timeout=PAGE_TIMEOUT_S * 1000, polling=500)
    return page


def summarise(session: Session, stall_s: float) -> None:
    samples = [(t, n) for t, n in session.samples if n >= 0]
    if len(samples) < 2:
        session.stalled, session.error = True, session.error or "no readings"
        return
    (t0, n0), (t1, n1) = samples[0], samples[-1]
    session.frames = n1 - n0
    session.fps = session.frames / (t1 - t0)
    last_change, gap = t0, 0.0
    for (ta, na), (tb, nb) in zip(samples, samples[1:]):
        if nb > na:
            gap = max(gap, tb - last_change)
            last_change = tb
    session.max_gap_s = round(max(gap, samples[-1][0] - last_change), 1)
    session.stalled = session.frames == 0 or session.max_gap_s >= stall_s


def run(args) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="fer-load-"))
    try:
        return measure(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def lower_own_priority(nice: int, cpus: list[int] | None) -> dict:
    """This process (and so the browser it starts next) at a lower priority and, if given, on ``cpus``
    only; a server started before keeps its own. Returns what was set, for the report."""
    if nice:
        os.nice(nice)
    if cpus:
        os.sched_setaffinity(0, cpus)
    return {"browser_nice": os.getpriority(os.PRIO_PROCESS, 0),
            "browser_cpus": sorted(os.sched_getaffinity(0))}


def server_cost(cpu_percent: float, frames: int, streams: int, window_s: float, target_fps: float,
                cores: int) -> dict:
    """The server's own CPU per analysed frame, per stream, per stream at ``target_fps`` (in cores)
    and the stream limit derived from the last for ``cores`` (see ``derived_max_streams``)."""
    from ui.stream_slots import RESERVED_CORES, derived_max_streams

    if frames <= 0 or streams <= 0:
        return {}
    ms_per_frame = 10 * cpu_percent * window_s / frames  # cpu_percent/100 * window s * 1000 / frames
    at_target = ms_per_frame * target_fps / 1000
    return {"server_cpu_ms_per_frame": round(ms_per_frame, 2),
            "server_cores_per_stream": round(cpu_percent / 100 / streams, 3),
            "server_cores_per_stream_at_target": round(at_target, 3),
            "reserved_cores": RESERVED_CORES,
            "derived_max_streams": derived_max_streams(cores, at_target)}


def measure(args, workdir: Path) -> dict:
    from playwright.sync_api import sync_playwright

    from fer_core.evaluation.sample_frames import CHROMIUM_FLAGS, camera_frame, write_y4m
    from ui.stream_slots import available_cores

    own = None
    if args.url:
        url = args.url.rstrip("/")
        roots = {f"pid {pid}": pid for pid in args.pid}
        if args.run_dir:  # every child of deploy/run_local.sh: replicas, haproxy, turnserver
            roots.update((name, int(pid)) for name, pid in
                         (line.split() for line in (Path(args.run_dir) / "pids").read_text().splitlines()))
    else:
        url, own = start_server(args.max_streams or args.sessions, workdir / "streamlit-server.log")
        roots = {"streamlit": own.pid}
    cores = available_cores()  # before the browser's own affinity is set: the server's cores
    camera = write_y4m(workdir / "astronaut.y4m", camera_frame(), fps=args.camera_fps, seconds=2.0)
    sessions = [Session(f"s{i + 1}") for i in range(args.sessions)]
    result = {"url": url, "sessions": args.sessions, "seconds": args.seconds, "camera_fps": args.camera_fps,
              "max_streams": (args.max_streams or args.sessions) if own else None,
              "measured_at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
              "load_average_before": os.getloadavg()[0],
              **lower_own_priority(args.browser_nice, args.browser_cpus)}
    manager = sync_playwright().start()
    try:
        browser = manager.chromium.launch(
            executable_path=args.chromium, headless=True,
            args=CHROMIUM_FLAGS + ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                                   f"--use-file-for-fake-video-capture={camera}"] + args.chromium_arg)
        pages = []
        for session in sessions:
            try:
                pages.append(open_session(browser, url, session))
            except Exception as error:  # a session that never plays is reported, the others measured
                session.error, session.stalled = f"did not start: {type(error).__name__}", True
                pages.append(None)
            print(f"{session.name}: {'playing' if not session.error else session.error} "
                  f"(replica {session.replica})", file=sys.stderr)
        time.sleep(args.warmup)
        sampler = Sampler(roots)
        server_pids = sampler.pids()
        browser_pids = [p for p in proc_tree(os.getpid()) if p != os.getpid() and p not in server_pids]
        cpu0, bcpu0, busy0, t0 = sampler.cpu_by_root(), cpu_seconds(browser_pids), machine_busy(), time.monotonic()
        sampler.start()
        deadline = t0 + args.seconds
        while time.monotonic() < deadline:
            for session, page in zip(sessions, pages):
                if page is not None:
                    try:
                        session.samples.append((time.monotonic(), page.evaluate(ANALYSED_JS)))
                    except Exception as error:
                        session.error = f"page failed: {type(error).__name__}"
            time.sleep(max(0.0, 1.0 - 0.02 * len(pages)))
        wall = time.monotonic() - t0
        sampler.stop.set()
        sampler.join()
        busy1 = machine_busy()
        result.update(
            server_cpu_percent_by_process={name: round(100 * (cpu - cpu0.get(name, 0.0)) / wall, 1)
                                           for name, cpu in sampler.cpu_by_root().items()},
            server_rss_mb_peak=round(sampler.peak_rss, 1),
            server_processes=len(server_pids),
            browser_cpu_percent=round(100 * (cpu_seconds(browser_pids) - bcpu0) / wall, 1),
            machine_busy_percent=round(100 * (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]), 1),
            cores=os.cpu_count(), load_average_after=os.getloadavg()[0], window_s=round(wall, 1))
        result["server_cpu_percent"] = round(sum(result["server_cpu_percent_by_process"].values()), 1)
        # what neither the server nor the browser used: other users of the machine, in % of one core
        result["others_cpu_percent"] = round(result["machine_busy_percent"] * cores - result["server_cpu_percent"]
                                             - result["browser_cpu_percent"], 1)
        browser.close()
    finally:
        manager.stop()
        if own is not None:
            stop_server(own)
    for session in sessions:
        summarise(session, args.stall_s)
    fps = [s.fps for s in sessions]
    result.update(
        per_session=[{k: v for k, v in asdict(s).items() if k != "samples"} for s in sessions],
        fps_min=round(min(fps), 2), fps_mean=round(sum(fps) / len(fps), 2),
        stalled=sum(s.stalled for s in sessions),
        sessions_at_target=sum(s.fps >= args.target_fps for s in sessions), target_fps=args.target_fps)
    for entry in result["per_session"]:
        entry["fps"] = round(entry["fps"], 2)
    playing = [s for s in sessions if s.frames > 0]
    if result.get("server_cpu_percent_by_process"):
        result.update(server_cost(result["server_cpu_percent"], sum(s.frames for s in playing), len(playing),
                                  result["window_s"], args.target_fps, cores))
    return result


def print_table(result: dict) -> None:
    print(f"{'session':8} {'replica':8} {'frames':>7} {'fps':>6} {'max gap s':>9}  stalled")
    for s in result["per_session"]:
        print(f"{s['name']:8} {s['replica']:8} {s['frames']:7d} {s['fps']:6.2f} {s['max_gap_s']:9.1f}  "
              f"{('yes ' + s['error']).strip() if s['stalled'] else 'no'}")
    print(f"\n{result['sessions']} sessions over {result['window_s']} s (camera {result['camera_fps']} fps): "
          f"min {result['fps_min']} / mean {result['fps_mean']} analysed fps per session; "
          f"{result['sessions_at_target']} at >= {result['target_fps']} fps; {result['stalled']} stalled")
    by = result["server_cpu_percent_by_process"]
    detail = f" ({', '.join(f'{name} {cpu} %' for name, cpu in by.items())})" if len(by) > 1 else ""
    if not by:
        print("server: not measured (give its processes with --pid, or --run-dir for run_local.sh)")
    else:
        print(f"server: {result['server_cpu_percent']} % CPU (100 % = one core){detail}, peak RSS "
              f"{result['server_rss_mb_peak']} MB ({result['server_processes']} processes)")
    if "server_cpu_ms_per_frame" in result:
        print(f"server alone: {result['server_cpu_ms_per_frame']} ms CPU per analysed frame, "
              f"{result['server_cores_per_stream']} cores per stream as measured, "
              f"{result['server_cores_per_stream_at_target']} cores per stream at {result['target_fps']} fps; "
              f"derived limit for {result['cores']} cores (keeping {result['reserved_cores']}): "
              f"{result['derived_max_streams']} streams")
    print(f"browser: {result['browser_cpu_percent']} % CPU at nice {result['browser_nice']} on cores "
          f"{result['browser_cpus']}; others: {result['others_cpu_percent']} % CPU; machine: "
          f"{result['machine_busy_percent']} % busy of {result['cores']} cores, load average "
          f"{result['load_average_before']:.2f} -> {result['load_average_after']:.2f} (measured "
          f"{result['measured_at']}; the browser and anything else running share these cores: the rates are "
          f"a lower bound)")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="the app's base URL (default: start a server here)")
    parser.add_argument("--sessions", "-k", type=int, default=2, help=f"browser sessions (1..{MAX_SESSIONS})")
    parser.add_argument("--seconds", "-s", type=float, default=30, help=f"measuring window (<= {MAX_SECONDS})")
    parser.add_argument("--warmup", type=float, default=8, help="seconds of streaming before the window")
    parser.add_argument("--camera-fps", type=int, default=30, help="the fake camera's frame rate")
    parser.add_argument("--max-streams", type=int, help="FER_MAX_STREAMS of the server started here "
                        "(default: --sessions)")
    parser.add_argument("--target-fps", type=float, default=15.0, help="the rate a session should keep")
    parser.add_argument("--stall-s", type=float, default=3.0, help="a gap this long marks a session stalled")
    parser.add_argument("--pid", type=int, action="append", default=[], help="with --url: a server process "
                        "to measure (with its children); repeatable")
    parser.add_argument("--run-dir", help="with --url: deploy/run_local.sh's run folder (measures its replicas)")
    parser.add_argument("--browser-nice", type=int, default=10, help="how much lower the browser's "
                        "priority is than the server's (0-19)")
    parser.add_argument("--browser-cpus", type=lambda text: [int(c) for c in text.split(",")],
                        help="pin the browser to these cores, e.g. 1 or 0,1 (default: any)")
    parser.add_argument("--chromium", default=os.environ.get("FER_CHROMIUM", "/usr/bin/chromium"))
    parser.add_argument("--chromium-arg", action="append", default=[], help="an extra Chromium flag; repeatable")
    parser.add_argument("--allow-remote", action="store_true", help="allow a URL that is not on this machine")
    parser.add_argument("--json", help="also write the result as JSON to this file ('-': stdout)")
    args = parser.parse_args(argv)
    if not 1 <= args.sessions <= MAX_SESSIONS:
        parser.error(f"--sessions must be from 1 to {MAX_SESSIONS}, got {args.sessions}")
    if not 1 <= args.seconds <= MAX_SECONDS:
        parser.error(f"--seconds must be from 1 to {MAX_SECONDS}, got {args.seconds}")
    if args.url:
        host = urllib.parse.urlsplit(args.url).hostname
        if host not in ("127.0.0.1", "localhost", "::1") and not args.allow_remote:
            parser.error(f"--url {args.url} is not on this machine; add --allow-remote to load another host")
    elif args.pid or args.run_dir:
        parser.error("--pid and --run-dir measure a server given by --url")
    if not (os.path.isfile(args.chromium) and os.access(args.chromium, os.X_OK)):
        parser.error(f"no Chromium at {args.chromium} (apt-get install -y chromium)")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    result = run(args)
    print_table(result)
    if args.json:
        text = json.dumps(result, indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    return 1 if result["stalled"] else 0


if __name__ == "__main__":
    sys.exit(main())
