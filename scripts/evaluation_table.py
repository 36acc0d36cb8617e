"""Print the README's results table, the detailed table of every stored evaluation, or the app's comparison.

The figures come only from what the models store: the accuracy from ``evaluation/*.json``
(``python -m fer_core evaluate --record``) by the rule the app uses (:mod:`fer_core.catalog.model_info`),
the speed from ``speed`` in ``metadata.json`` (a ``python -m fer_core bench`` run, with its
command and date), the integer networks' rows from ``docs/int8.json`` (their one measurement, made
by ``scripts/int8_accuracy.py`` and ``python -m fer_core bench``), and the ``fer`` package's row from
``docs/baselines.json``. The README holds
this script's output between its ``results-table`` markers, and a test checks that they agree,
so the README cannot drift from the models.

    python scripts/evaluation_table.py                      # the README's table: the shipped models and fer
    python scripts/evaluation_table.py --detail [MODEL ...]  # every stored evaluation (default: every bundled model)
    python scripts/evaluation_table.py --compare [MODEL ...]  # the evaluation page's "All bundled models" table
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fer_core.catalog.evaluations import WATCHED_CLASSES, evaluation_key, load_evaluations, tta_name  # noqa: E402
from fer_core.catalog.model import MODELS_DIR, TTA_MODES, list_models  # noqa: E402
from fer_core.catalog.model_info import choices, describe  # noqa: E402
from fer_core.catalog.model_table import comparison_rows, markdown  # noqa: E402

BASELINES = Path(__file__).resolve().parents[1] / "docs" / "baselines.json"
INT8 = Path(__file__).resolve().parents[1] / "docs" / "int8.json"


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.2%}".replace("%", " %")


def number(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def results_row(folder: Path) -> str:
    """One shipped model: its accuracy (as the sidebar quotes it) and its stored bench figures."""
    info = describe(folder)
    speed = info.speed or {}
    model = f"`models/{folder.name}`" if folder.parent.resolve() == MODELS_DIR.resolve() else f"`{folder}`"
    commands = f"`python -m fer_core evaluate --model models/{folder.name} --split PrivateTest --tta {info.quoted_tta}`"
    if speed:
        commands += f"; `{speed['command']}` ({speed['date']}; {speed['conditions']})"
    return (f"| **{info.display_name}** ({info.purpose}), float32: {model} | {percent(info.accuracy)} | {tta_name(info.quoted_tta)} | "
            f"{number(speed.get('ms_per_face'), 2)} | {number(speed.get('faces_per_s'), 0)} | {commands} |")


def span(values: list[float] | None, digits: int) -> str:
    """A measured range, "0.13–0.41", from [low, high] (one figure when they agree)."""
    if not values:
        return "–"
    low, high = number(min(values), digits), number(max(values), digits)
    return low if low == high else f"{low}–{high}"


def int8_row(folder: Path) -> str | None:
    """A shipped model's integer networks (the default on LiteRT): their measured accuracy and speed ranges."""
    measured = json.loads(INT8.read_text()).get(folder.name) if INT8.is_file() else None
    if not measured:
        return None
    info = describe(folder)
    return (f"| **{info.display_name}**, int8 (the default): `models/{folder.name}` | {percent(measured['accuracy'])} | "
            f"{tta_name(measured['tta'])} | {span(measured['ms_per_face'], 2)} | {span(measured['faces_per_s'], 0)} | "
            f"{measured['source']} |")


def baseline_rows() -> list[str]:
    rows = []
    for name, b in json.loads(BASELINES.read_text()).items():
        rows.append(f"| `{name}` {b['version']} ({b['what']}) | {percent(b['accuracy'])} | {tta_name(b['tta'])} | "
                    f"{number(b['ms_per_face'], 2)} | {number(b['faces_per_s'], 0)} | {b['source']} |")
    return rows


def results_table() -> str:
    """The README's table: the models a user picks from, then the ``fer`` package for comparison."""
    lines = ["| model | PrivateTest accuracy | TTA | ms per face | faces/s, batched | commands |",
             "|---|---:|---|---:|---:|---|"]
    for folder in choices():
        lines += [row for row in (results_row(folder), int8_row(folder)) if row]
    lines += baseline_rows()
    return "\n".join(lines)


def detail_rows(folder: Path) -> list[str]:
    stored = load_evaluations(folder)
    out = []
    for tta in TTA_MODES:
        public, private = stored.get(evaluation_key("PublicTest", tta)), stored.get(evaluation_key("PrivateTest", tta))
        if private is None:
            continue
        free = private.leak_free or {}
        robust = private.robustness
        cells = [folder.name, tta_name(tta), percent(public.accuracy if public else None), percent(private.accuracy),
                 percent(free.get("accuracy")), f"{free['n']}" if free else "–",
                 *[f"{private.recall(name):.2f}" if private.recall(name) is not None else "–" for name in WATCHED_CLASSES],
                 percent(robust["mean"]) if robust else "–"]
        out.append("| " + " | ".join(cells) + " |")
    return out


def detail_table(folders: list[Path]) -> str:
    lines = ["| model | TTA | PublicTest | PrivateTest | PrivateTest leak-free | leak-free n | "
             + " | ".join(f"{name} recall" for name in WATCHED_CLASSES) + " | mean under corruptions |",
             "|---|---|---:|---:|---:|---:|" + "---:|" * len(WATCHED_CLASSES) + "---:|"]
    for folder in folders:
        lines += detail_rows(folder)
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--detail"]:
        print(detail_table([Path(a) for a in argv[1:]] or list_models()))
    elif argv[:1] == ["--compare"]:
        print(markdown(comparison_rows([Path(a) for a in argv[1:]] or choices())))
    else:
        print(results_table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
