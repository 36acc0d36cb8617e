"""The README is a product page that cannot drift: its results table is the script's output, its links resolve."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_results_table_is_what_the_stored_evaluations_say():
    """``python scripts/evaluation_table.py`` prints the table the README holds between its markers."""
    spec = importlib.util.spec_from_file_location("evaluation_table", ROOT / "scripts" / "evaluation_table.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    shown = re.search(r"<!-- results-table:[^>]*-->\n(.*?)\n<!-- /results-table -->", README, re.S)
    assert shown, "the README lost its results-table markers"
    assert shown.group(1) == script.results_table(), "rerun: python scripts/evaluation_table.py"
    assert "Accurate" in shown.group(1) and "Fast" in shown.group(1) and "`fer`" in shown.group(1)


def test_links_and_screenshots_resolve_and_stay_small():
    targets = re.findall(r"\]\(((?:docs|experiments)/[^)#]+)", README)
    assert {"docs/model-card.md", "docs/experiments.md", "docs/operations.md"} <= set(targets)
    for target in targets:
        assert (ROOT / target).exists(), target
    images = [t for t in targets if t.endswith((".png", ".jpg"))]
    assert len(images) >= 2
    for image in images:
        assert (ROOT / image).stat().st_size < 300 * 1024, f"{image}: keep screenshots under 300 KB"
    assert len(README.splitlines()) <= 240  # a product page: the details live in docs/
