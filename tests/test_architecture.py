"""The code's shape holds: the import layers of .importlinter (run with the real lint-imports), no import cycle
in fer_core, and docs/operations.md's code-layout table covering every module."""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept():
    """lint-imports checks every contract of .importlinter; each must be listed as KEPT."""
    lint = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(lint), "--no-cache"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    contracts = re.findall(r"^name = (.+)$", (ROOT / ".importlinter").read_text(), re.M)
    assert len(contracts) >= 5 and "BROKEN" not in out.stdout
    kept = re.search(r"Contracts: (\d+) kept, 0 broken", out.stdout)
    assert kept and int(kept[1]) == len(contracts), out.stdout[-2000:]


def test_the_inference_path_stays_lean():
    """Importing the pipeline loads neither the FER2013 loader, training, evaluation nor scikit-learn."""
    code = ("import sys, fer_core.inference.pipeline, fer_core.drivers.video, fer_core.drivers.live; "
            "print(sorted(m for m in sys.modules if m.startswith(('sklearn', 'tensorflow', 'fer_core.data', "
            "'fer_core.training', 'fer_core.evaluation'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_code_layout_table_lists_every_module():
    spec = importlib.util.spec_from_file_location("code_layout", ROOT / "scripts" / "code_layout.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    doc = (ROOT / "docs" / "operations.md").read_text()
    shown = script.MARKERS.search(doc)
    assert shown, "docs/operations.md lost its code-layout markers"
    assert shown.group(2) == script.layout_table(), "rerun: python scripts/code_layout.py --write"
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "fer_core").rglob("*.py")
               if p.name != "__init__.py" or p.parent.name != "fer_core"}
    listed = set(re.findall(r"`(fer_core/[\w/]+\.py)`", shown.group(2)))
    rooms = {f"{p.parent.relative_to(ROOT).as_posix()}/__init__.py" for p in (ROOT / "fer_core").glob("*/__init__.py")}
    assert modules - rooms <= listed, sorted(modules - rooms - listed)
