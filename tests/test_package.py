"""pyproject.toml: ``pip install -e .`` makes fer_core importable anywhere and gives the ``fer-studio`` command.

A real install into a fresh virtual environment, offline: ``--no-deps --no-build-isolation``, so
the build backend (setuptools) and the dependencies come from the environment running the tests.
That environment is usually itself a venv (.venv), and ``--system-site-packages`` only reaches the
base interpreter's site; a ``.pth`` file chains the running environment's site-packages in after
the new venv's own, as a system site would be.
"""
from __future__ import annotations

import ast
import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LABELS = ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")


def _run(args: list, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    # No PYTHONPATH and no model overrides: fer_core and its models must be found through the install.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FER_MODELS_DIR", "FER_MODEL")}
    env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A fresh venv with fer-studio installed editable from this checkout."""
    root = tmp_path_factory.mktemp("pkg")
    env_dir = root / "venv"
    made = _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", env_dir], root, 120)
    assert made.returncode == 0, made.stderr
    python = env_dir / "bin" / "python"
    purelib = _run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], root, 60).stdout.strip()
    parents = [p for p in site.getsitepackages() if Path(p).is_dir()]
    # `import` lines run site.addsitedir, so the parent's own .pth files (setuptools' shim...) apply too.
    (Path(purelib) / "_parent_env.pth").write_text(
        "".join(f"import site; site.addsitedir({p!r})\n" for p in parents))
    try:
        import setuptools  # noqa: F401  -- --no-build-isolation builds with the environment's setuptools
    except ImportError:
        pytest.fail("setuptools is needed to build the package offline; install requirements-dev.txt")
    installed = _run([python, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-e", REPO], root, 300)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return env_dir


def test_editable_install_finds_the_package_and_its_assets(venv, tmp_path):
    code = ("import fer_core, fer_core.inference.detect as d; print(fer_core.__file__); "
            "print(sorted(p.name for p in d.ASSETS.glob('*.tflite')))")
    result = _run([venv / "bin" / "python", "-c", code], tmp_path, 120)
    assert result.returncode == 0, result.stderr
    file, assets = result.stdout.strip().splitlines()[-2:]
    assert Path(file).resolve().is_relative_to(REPO / "fer_core")  # editable: the checkout itself
    assert "face_detection_full_range.tflite" in assets and "face_detection_short_range.tflite" in assets


def test_console_script_predicts_a_real_photo(venv, tmp_path, astronaut):
    """``fer-studio predict``: the console script returns main's exit code.

    The bundled models come from fer_core.catalog.model.MODELS_DIR, the checkout's models/ folder beside
    the package; that holds for an editable install only. A non-editable wheel does not ship
    models/, so it would need $FER_MODELS_DIR (or $FER_MODEL) pointing at a models folder.
    """
    from PIL import Image

    photo = tmp_path / "astronaut.jpg"
    Image.fromarray(astronaut).save(photo, format="JPEG", quality=92)
    result = _run([venv / "bin" / "fer-studio", "predict", photo.name], tmp_path, 300)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith(photo.name)]
    assert lines and all(": face " in line for line in lines), result.stdout
    assert any(label in line for line in lines for label in LABELS), result.stdout


def test_console_script_exits_with_mains_code(venv, tmp_path):
    """main's refusal (2: an --annotate path that is a file) is the command's exit status."""
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    result = _run([venv / "bin" / "fer-studio", "predict", "any.jpg", "--annotate", "notes.txt"], tmp_path, 300)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "error: --annotate notes.txt: is a file, not a folder" in result.stderr


def _loaded_by_predict(setup: str, packages: set[str]) -> list[str]:
    """Runs ``setup`` and then ``predict`` on the sample photo in a fresh interpreter; which of
    ``packages`` were imported by then."""
    code = (setup + "import sys\n"
            "from fer_core import cli\n"
            "from fer_core.evaluation import bench\n"
            "assert cli.main(['predict', str(bench.SAMPLE_FACE)]) == 0\n"
            f"print(sorted({{n.split('.')[0] for n in sys.modules}} & set({sorted(packages)!r})))\n")
    result = _run([sys.executable, "-c", code], REPO, 300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "astronaut.jpg: face 1" in result.stdout
    return ast.literal_eval(result.stdout.strip().splitlines()[-1])


def test_the_app_and_predict_load_neither_scikit_image_nor_ray():
    """scikit-image (the tests' photos) and Ray (``batch --engine ray``) are not runtime dependencies:
    importing every fer_core module and the app's helpers, and predicting a photo, loads neither."""
    every_module = (
        "import importlib, pkgutil\n"
        "import fer_core\n"
        "for m in pkgutil.walk_packages(fer_core.__path__, 'fer_core.'):\n"
        "    if m.name != 'fer_core.__main__': importlib.import_module(m.name)  # __main__ runs the CLI\n"
        "for m in ('ui.resources', 'ui.sidebar', 'ui.photo', 'ui.video', 'ui.live'): importlib.import_module(m)\n"
    )
    assert _loaded_by_predict(every_module, {"skimage", "ray"}) == []


def test_predict_on_litert_never_imports_tensorflow():
    """The bundled models run on LiteRT, so ``predict`` starts in under a second: TensorFlow (about
    5 s to import here) is loaded only on a path that runs Keras (training, Grad-CAM, no .tflite)."""
    assert _loaded_by_predict("", {"tensorflow", "keras"}) == []
