"""The one validator of neutral-baseline files (fer_core.inference.baseline_file): hostile and careless files,
each refused with one line that names the file; the CLI's exit code and the app's pages with them."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from fer_core.inference.baseline_file import MAX_BYTES, MAX_DEPTH, parse_baseline, read_baseline_file
from fer_core.inference.neutral_baseline import EPSILON, FORMAT, MAX_MARGIN, MIN_MARGIN, BaselineError

REPO = Path(__file__).resolve().parent.parent
FAST = REPO / "models" / "student16"
LABELS = ["Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"]
#: a valid file's document
GOOD = {"format": FORMAT, "version": 1, "model": "m", "frames": 3, "margin": 0.7, "labels": LABELS,
        "log_probabilities": [-3.0, -4.0, -2.5, -2.0, -1.5, -3.0, -0.5]}
FLOOR = math.log(EPSILON)


def _with(**changes) -> bytes:
    return json.dumps({**GOOD, **changes}).encode()


def _without(key: str) -> bytes:
    return json.dumps({k: v for k, v in GOOD.items() if k != key}).encode()


def _values(first) -> list:
    return [first, *GOOD["log_probabilities"][1:]]


def _raw(document: str) -> bytes:
    """A document with a value json.dumps would not write (a huge integer, a bare literal)."""
    return document.encode()


HUGE = "9" * 5000
BAD = [
    # not a baseline file at all
    (b"", "not valid JSON"),
    (b"not json {", "not valid JSON"),
    (b"\xff\xfe\x00garbage", "not UTF-8 text"),
    (b"[1, 2]", "not a baseline file"),
    (b"null", "not a baseline file"),
    (_with(format="something-else"), "not a baseline file"),
    (_with(format=["fer-studio-neutral-baseline"]), "not a baseline file"),
    # size and depth: refused before parsing
    (b"[" * 200_000 + b"]" * 200_000, "too large"),
    (b"[" * 30_000 + b"]" * 30_000, f"nested deeper than {MAX_DEPTH}"),
    (b'{"a":' * 5_000 + b"1" + b"}" * 5_000, f"nested deeper than {MAX_DEPTH}"),
    (json.dumps({**GOOD, "padding": "x" * MAX_BYTES}).encode(), "too large"),
    (json.dumps({**GOOD, "padding": "x" * (20 * 2**20)}).encode(), "too large"),
    # numbers that are not numbers a file holds
    (_raw(json.dumps(GOOD).replace('"frames": 3', f'"frames": {HUGE}')), "a number with 5000 digits"),
    (_raw(json.dumps(GOOD).replace('"frames": 3', f'"frames": -{HUGE}')), "a number with 5000 digits"),
    (_raw(json.dumps(GOOD).replace('"margin": 0.7', '"margin": 1e999')), "out of range"),
    (_raw(json.dumps(GOOD).replace('"margin": 0.7', '"margin": NaN')), "NaN is not a number"),
    (_raw(json.dumps(GOOD).replace('"margin": 0.7', '"margin": -Infinity')), "-Infinity is not a number"),
    # versions and keys
    (_with(version=7), "version 7"),
    (_with(version=True), "version True"),
    (_with(version="1"), "version '1'"),
    (_without("margin"), "lacks margin"),
    (_without("frames"), "lacks frames"),
    # exact types
    (_with(frames=True), "\"frames\" must be a whole number of frames, not a boolean True"),
    (_with(frames=False), "not a boolean False"),
    (_with(frames=3.0), "not a fractional number 3.0"),
    (_with(frames="3"), "not text '3'"),
    (_with(frames=None), "not null"),
    (_with(frames=0), "at least 1 frame"),
    (_with(frames=-5), "at least 1 frame"),
    (_with(margin=True), "\"margin\" must be a number, not a boolean"),
    (_with(margin="0.7"), "\"margin\" must be a number, not text"),
    (_with(spread="wide"), "\"spread\" must be a number or null"),
    (_with(model=7), "\"model\" must be a model's name"),
    (_with(model=""), "\"model\" must be a model's name"),
    (_with(labels="Neutral"), "\"labels\" must be a list"),
    (_with(labels=[1, 2, 3, 4, 5, 6, 7]), "\"labels\" must be a list"),
    (_with(labels=[*LABELS[:-1], "Neutral\nerror: forged"]), "\"labels\" must be a list"),
    (_with(labels=[]), "\"labels\" must be a list"),
    (_with(model="m\nerror: forged"), "\"model\" must be a model's name"),
    (_with(model="m" * 201), "\"model\" must be a model's name"),
    (_with(log_probabilities=["x"] * 7), "must be a list of numbers"),
    (_with(log_probabilities=_values(True)), "must be a list of numbers"),
    (_with(log_probabilities=_values(None)), "must be a list of numbers"),
    (_with(log_probabilities={"Angry": -1.0}), "must be a list of numbers"),
    # values a model cannot produce
    (_with(log_probabilities=_values(-1e308)), "must be numbers from ln 1e-06"),
    (_with(log_probabilities=_values(FLOOR - 0.001)), "must be numbers from ln 1e-06"),
    (_with(log_probabilities=_values(0.5)), "must be numbers from ln 1e-06"),
    (_with(log_probabilities=[-1.0] * 6), "6 values for 7 labels"),
    (_with(labels=["Happy", "Sad"], log_probabilities=[-1.0, -1.0]), "needs a 'Neutral' label"),
    (_with(margin=-1), "the margin must be a number from"),
    (_with(margin=0), "the margin must be a number from"),
    (_with(margin=MAX_MARGIN + 0.01), "the margin must be a number from"),
    (_with(margin=10), "the margin must be a number from"),
]


@pytest.mark.parametrize("content, message", BAD, ids=[f"{i}-{m[:30]}" for i, (_, m) in enumerate(BAD)])
def test_a_bad_file_is_refused_in_one_line_naming_it(content, message):
    with pytest.raises(BaselineError) as caught:
        parse_baseline(content, "mine.json")
    text = str(caught.value)
    assert text.startswith("mine.json: ") and message in text and "\n" not in text, text


@pytest.mark.parametrize("document", [
    GOOD,
    {**GOOD, "log_probabilities": _values(round(FLOOR, 6))},  # the floor, as a saved file rounds it
    {**GOOD, "margin": round(MIN_MARGIN, 6), "spread": None},
    {**GOOD, "margin": round(MAX_MARGIN, 6), "spread": 3.5},
    {**GOOD, "frames": 1, "log_probabilities": [-2, -2, -2, -2, -2, -2, 0]},  # integers are numbers
    {**GOOD, "note": {"made by": "hand"}},  # unknown keys are ignored
])
def test_its_good_neighbours_are_read(document):
    baseline = parse_baseline(json.dumps(document), "mine.json")
    assert baseline.frames == document["frames"] and baseline.labels == tuple(LABELS)


def test_a_file_is_read_whole_up_to_the_limit_and_named(tmp_path):
    big = tmp_path / "big.json"
    big.write_text(json.dumps({**GOOD, "padding": " " * (MAX_BYTES - 400)}))
    assert big.stat().st_size <= MAX_BYTES and read_baseline_file(big).model == "m"
    big.write_text(json.dumps({**GOOD, "padding": " " * (20 * 2**20)}))
    with pytest.raises(BaselineError, match=f"^{big}: too large"):
        read_baseline_file(big)
    with pytest.raises(BaselineError, match=f"^{tmp_path}: cannot read this baseline file"):
        read_baseline_file(tmp_path)


def test_another_models_baseline_is_refused_naming_the_file(tmp_path):
    from fer_core.inference.classifier import Classifier

    other = tmp_path / "other.json"
    other.write_text(json.dumps({**GOOD, "model": "vgg32b"}))
    with pytest.raises(BaselineError, match=f"^{other}: this baseline was made with the model 'vgg32b'"):
        read_baseline_file(other, Classifier.load(FAST))


# ------------------------------------------------------------------ the command line: one line, exit 2


@pytest.mark.parametrize("content, message", [
    (b"[" * 200_000 + b"]" * 200_000, "too large"),
    (b"[" * 20_000 + b"]" * 20_000, "nested deeper"),
    (_raw(json.dumps(GOOD).replace('"frames": 3', f'"frames": {HUGE}')), "a number with 5000 digits"),
    (_with(model="student16", frames=True), "not a boolean True"),
])
@pytest.mark.parametrize("command", ["predict", "batch"])
def test_the_cli_refuses_a_bad_file_in_one_line(tmp_path, content, message, command):
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    args = ["predict", "--model", FAST, "--baseline", bad, REPO / "fer_core" / "assets" / "astronaut.jpg"]
    if command == "batch":
        args = ["batch", "--model", FAST, "--baseline", bad, "--out", tmp_path / "out.parquet", tmp_path]
    result = subprocess.run([sys.executable, "-m", "fer_core", *map(str, args)], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2 and result.stdout == "", result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [lines[0]] and lines[0].startswith(f"error: {bad}: ") and message in lines[0], lines


def test_files_of_the_old_format_name_are_still_read():
    old = parse_baseline(json.dumps({**GOOD, "format": "fer-studio-calibration"}), "old.json")
    assert old == parse_baseline(json.dumps(GOOD), "new.json") and old.to_dict()["format"] == FORMAT


def test_the_old_option_names_still_work_and_say_so_once(tmp_path):
    old = tmp_path / "old.json"
    old.write_text(json.dumps({**GOOD, "format": "fer-studio-calibration", "model": "student16"}))
    photo = REPO / "fer_core" / "assets" / "astronaut.jpg"
    result = subprocess.run([sys.executable, "-m", "fer_core", "predict", "--model", str(FAST), "--calibration",
                             str(old), str(photo)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("--calibration is deprecated and will be removed; use --baseline") == 1
    assert "vs neutral" in result.stdout
    result = subprocess.run([sys.executable, "-m", "fer_core", "predict", "--save-calibration", str(tmp_path / "x"),
                             str(photo)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.splitlines() == [
        "--save-calibration is deprecated and will be removed; use --save-baseline",
        "error: --save-baseline: give the neutral reference photos with --neutral"]
