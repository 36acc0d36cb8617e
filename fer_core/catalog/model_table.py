"""The comparison of model folders the evaluation page shows and ``scripts/evaluation_table.py --compare`` prints."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fer_core.catalog.evaluations import WATCHED_CLASSES, tta_name
from fer_core.catalog.model import ModelError
from fer_core.catalog.model_info import EVAL_SPLITS, HEADLINE_SPLIT, describe, format_params

#: The splits a comparison row scores (the third, RandomTest, exists only for some models).
COMPARED_SPLITS = EVAL_SPLITS[:2]


def comparison_rows(folders: Sequence[str | Path], timings: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """One row per model folder: name, architecture, parameters, size on disk, test scores, speed.

    ``timings`` (ms per face by folder) adds a speed column; an unreadable folder gets a row saying why.
    """
    rows = []
    for folder in folders:
        try:
            info = describe(folder)
        except ModelError as exc:
            rows.append({"model": Path(folder).name, "architecture": f"unreadable: {exc}"})
            continue
        row = {"model": info.name, "architecture": info.architecture, "parameters": format_params(info.params),
               "size (MB)": round(info.size_bytes / 2**20, 1), "default TTA": tta_name(info.tta)}
        best = {split: info.headline(split) for split in COMPARED_SPLITS}  # each headline read once
        for split, evaluation in best.items():
            row[f"{split} accuracy"] = round(evaluation.accuracy, 4) if evaluation else None
            row[f"{split} macro-F1"] = evaluation.macro_f1 if evaluation else None
            row[f"{split} TTA"] = tta_name(evaluation.tta) if evaluation else None
            free = evaluation.leak_free if evaluation else None
            row[f"{split} leak-free accuracy"] = round(free["accuracy"], 4) if free else None
        private = best[HEADLINE_SPLIT]
        for name in WATCHED_CLASSES:  # the classes real faces rarely get right
            recall = private.recall(name) if private else None
            row[f"{name} recall"] = round(recall, 3) if recall is not None else None
        if timings is not None:
            row["ms per face"] = timings.get(str(folder))
        rows.append(row)
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    """Rows as a Markdown table (columns in first-seen order; a missing value is "–")."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join("–" if row.get(c) is None else str(row[c]) for c in columns) + " |")
    return "\n".join(lines)
