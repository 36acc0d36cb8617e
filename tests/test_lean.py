"""The runtime install without TensorFlow: the CLI on LiteRT, and one line naming the extra where TensorFlow is needed.

The processes below run with TensorFlow and Keras made unimportable (``sys.modules[name] = None``
makes ``import`` raise ModuleNotFoundError, as in an install without them).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
WITHOUT_TF = "import sys; sys.modules['tensorflow'] = sys.modules['keras'] = None; from fer_core.cli import main; sys.exit(main(sys.argv[1:]))"
PHOTO = REPO / "fer_core" / "assets" / "astronaut.jpg"


def _cli(*args, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", WITHOUT_TF, *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


def test_predict_and_bench_run_without_tensorflow():
    predicted = _cli("predict", "--model", REPO / "models" / "student16", PHOTO)
    assert predicted.returncode == 0, predicted.stderr
    assert "face 1 at" in predicted.stdout
    bench = _cli("bench", "--model", REPO / "models" / "student16", "--repeats", "1")
    assert bench.returncode == 0, bench.stderr
    assert "end-to-end" in bench.stdout and "seed approach    not timed" in bench.stdout


@pytest.mark.parametrize("command", [["train", "--epochs", "1", "--limit", "10"], ["export", "{keras_only}"],
                                     ["predict", "--model", "{keras_only}", str(PHOTO)]])
def test_a_tensorflow_feature_says_which_extra_to_install(command, tmp_path):
    keras_only = tmp_path / "keras-only"  # a model folder without model.tflite: it runs on Keras only
    keras_only.mkdir()
    for name in ("metadata.json", "model.keras"):
        shutil.copy(REPO / "models" / "student16" / name, keras_only / name)
    args = [arg.format(keras_only=keras_only) for arg in command]
    if command[0] == "train":
        args += ["--out", str(tmp_path / "run")]
    result = _cli(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "fer-studio[train]" in lines[0] and "requirements-train.txt" in lines[0]
    assert not (tmp_path / "run").exists()


def _requirements(name: str) -> list[str]:
    return [line.split("#")[0].strip() for line in (REPO / name).read_text().splitlines() if line.split("#")[0].strip()]


def test_the_runtime_requirements_leave_tensorflow_to_the_train_extra():
    runtime, train, dev = (_requirements(n) for n in ("requirements.txt", "requirements-train.txt", "requirements-dev.txt"))
    names = [line.split("==")[0].split(";")[0].strip().lower() for line in runtime]
    assert "tensorflow" not in names and "keras" not in names
    assert train[0] == "-r requirements.txt" and {"tensorflow", "keras"} <= {line.split("==")[0] for line in train}
    assert dev[0] == "-r requirements-train.txt"  # scripts/test.sh installs everything
    litert = next(line for line in runtime if line.startswith("ai-edge-litert"))
    assert 'platform_system != "Windows"' in litert  # no Windows wheel exists
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert not any(dep.startswith(("tensorflow", "keras")) for dep in project["dependencies"])
    assert {dep.split(">")[0] for dep in project["optional-dependencies"]["train"]} == {"tensorflow", "keras"}
    assert "train" in project["optional-dependencies"]["dev"][0]


def test_fer_studio_app_starts_the_studio():
    """``fer-studio app`` becomes ``streamlit run streamlit_app.py`` (same process) with the options given."""
    import os
    import socket
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "fer_core", "app", "--server.headless", "true", "--server.port",
                             str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
                            cwd=REPO, env={**os.environ, "MALLOC_ARENA_MAX": "2"}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        deadline, healthy = time.monotonic() + 60, False
        while not healthy and time.monotonic() < deadline and proc.poll() is None:
            try:
                healthy = urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).status == 200
            except OSError:
                time.sleep(0.3)
        assert healthy, proc.stdout.read().decode()[-2000:] if proc.poll() is not None else "not healthy in 60 s"
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
        assert b"streamlit" in cmdline and any(part.endswith(b"streamlit_app.py") for part in cmdline)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
