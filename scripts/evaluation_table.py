"""Print the README's table of stored evaluations: accuracy, leak-free accuracy and the hard classes' recall.

Reads only what ``python -m fer_core evaluate --record`` stored in each model's ``evaluation/``
folder, so the table is the same figures the app shows.

    python scripts/evaluation_table.py [MODEL_DIR ...]     # default: every bundled model
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fer_core.evaluate import WATCHED_CLASSES, evaluation_key, load_evaluations, tta_name  # noqa: E402
from fer_core.model import TTA_MODES, list_models  # noqa: E402


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.2%}".replace("%", " %")


def rows(folder: Path) -> list[str]:
    stored = load_evaluations(folder)
    out = []
    for tta in TTA_MODES:
        public, private = stored.get(evaluation_key("PublicTest", tta)), stored.get(evaluation_key("PrivateTest", tta))
        if private is None:
            continue
        free = private.leak_free or {}
        robust = private.details.get("robustness")
        cells = [folder.name, tta_name(tta), percent(public.accuracy if public else None), percent(private.accuracy),
                 percent(free.get("accuracy")), f"{free['n']}" if free else "–",
                 *[f"{private.recall(name):.2f}" if private.recall(name) is not None else "–" for name in WATCHED_CLASSES],
                 percent(robust["mean"]) if robust else "–"]
        out.append("| " + " | ".join(cells) + " |")
    return out


def main(argv: list[str]) -> int:
    folders = [Path(a) for a in argv] or list_models()
    print("| model | TTA | PublicTest | PrivateTest | PrivateTest leak-free | leak-free n | "
          + " | ".join(f"{name} recall" for name in WATCHED_CLASSES) + " | mean under corruptions |")
    print("|---|---|---:|---:|---:|---:|" + "---:|" * len(WATCHED_CLASSES) + "---:|")
    for folder in folders:
        for line in rows(folder):
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
