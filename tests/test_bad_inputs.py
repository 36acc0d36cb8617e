"""Every bad input gets one clear error: tables of (input, expected message) for images, CSVs,
videos and command-line options.

Inputs are real files made in tmp_path: tiny CSVs of random pixels (never FER2013 rows),
truncated PNG/JPEG files, text files with image or video names, directories. CLI cases run
``fer_core.cli.main`` in-process and check the exit code, the one ``error:`` line and that no
traceback was printed; train cases also check that ``--out`` was not left behind.
"""
from __future__ import annotations

import gzip
import io
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fer_core import cli
from fer_core.data import fer2013 as fer_data_module
from fer_core.data.fer2013 import NUM_PIXELS, DataError, load_csv
from fer_core.inference.images import MAX_BYTES, ImageError, read_image

HEADER = "emotion,pixels,Usage"
SMALL_MODEL = Path(__file__).resolve().parent.parent / "models" / "student16"


# ---------------------------------------------------------------- makers of real bad files


def _pixels(seed: int) -> str:
    """One row's pixel text: 2304 random grey values (not FER2013 data)."""
    return " ".join(map(str, np.random.default_rng(seed).integers(0, 256, NUM_PIXELS)))


def _rows(usages: list[str], change: dict[int, tuple[str, str]] | None = None) -> str:
    """CSV text with one row per Usage; ``change`` maps a row index to (column, new value)."""
    lines = [HEADER]
    for i, usage in enumerate(usages):
        row = {"emotion": str(i % 7), "pixels": _pixels(i), "Usage": usage}
        if change and i in change:
            column, value = change[i]
            row[column] = value
        lines.append(f"{row['emotion']},{row['pixels']},{row['Usage']}")
    return "\n".join(lines) + "\n"


def _write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def _encoded(fmt: str, size: int = 64) -> bytes:
    noise = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format=fmt)
    return buffer.getvalue()


SPLITS6 = ["Training"] * 4 + ["PublicTest", "PrivateTest"]
#: Row 1 of the file is the header, so the row at index 1 is "row 3" in messages.
BAD_ROW = 1


def _bad_row(column: str, value: str) -> str:
    return _rows(SPLITS6, {BAD_ROW: (column, value)})


def _gzip(text: str) -> bytes:
    return gzip.compress(text.encode())


# ---------------------------------------------------------------- images

IMAGE_CASES: list[tuple[str, Callable[[Path], Path], str]] = [
    ("directory", lambda d: (d / "photos").mkdir() or d / "photos", "is a directory"),
    ("missing", lambda d: d / "nowhere.jpg", "no such file"),
    ("empty", lambda d: _write(d / "empty.png", b""), "the file is empty"),
    ("text named .jpg", lambda d: _write(d / "notes.jpg", "hello, I am text"), "not an image file"),
    ("truncated PNG", lambda d: _write(d / "cut.png", _encoded("PNG")[: len(_encoded("PNG")) // 2]),
     "corrupt or truncated"),
    ("truncated JPEG", lambda d: _write(d / "cut.jpg", _encoded("JPEG")[: len(_encoded("JPEG")) // 2]),
     "corrupt or truncated"),
    ("JPEG header only", lambda d: _write(d / "head.jpg", b"\xff\xd8\xff\xe0" + bytes(64)), "not an image|corrupt"),
    ("PNG signature only", lambda d: _write(d / "sig.png", b"\x89PNG\r\n\x1a\n"), "not an image|corrupt"),
    ("decompression bomb", lambda d: _write(d / "bomb.png", _bomb()), "too large|decompression bomb"),
    ("larger than the limit", lambda d: _sparse(d / "huge.jpg", MAX_BYTES + 1), "larger than 100 MB"),
]


def _bomb() -> bytes:
    buffer = io.BytesIO()
    Image.new("1", (9000, 9000)).save(buffer, format="PNG")  # ~10 KB file, 81 megapixels
    return buffer.getvalue()


def _sparse(path: Path, size: int) -> Path:
    with open(path, "wb") as handle:
        handle.truncate(size)  # sparse: no disk space, no time
    return path


@pytest.mark.parametrize("make, message", [c[1:] for c in IMAGE_CASES], ids=[c[0] for c in IMAGE_CASES])
def test_bad_image_files(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(ImageError, match=f"^{re.escape(str(path))}: .*({message})"):
        read_image(path)


@pytest.mark.skipif(not Path("/dev/null").exists(), reason="needs /dev/null")
def test_device_is_not_an_image():
    with pytest.raises(ImageError, match="/dev/null: not a regular file"):
        read_image("/dev/null")


# ---------------------------------------------------------------- CSVs

CSV_CASES: list[tuple[str, str | bytes, str]] = [
    ("empty file", "", "not a readable CSV file"),
    ("header only", HEADER + "\n", "the CSV has a header but no rows"),
    ("missing Usage column", "emotion,pixels\n0,1 2 3\n", r"missing column\(s\) Usage"),
    ("missing two columns", "pixels\n1 2 3\n", r"missing column\(s\) emotion, Usage"),
    ("a PNG named .csv", _encoded("PNG"), "not a readable CSV file"),
    ("a row with an extra field", _rows(SPLITS6).replace(",Training\n", ",Training,extra\n", 1),
     "not a readable CSV file"),
    ("2303 pixels", _bad_row("pixels", " ".join(_pixels(1).split()[:-1])), "row 3: pixels has 2303 values, expected 2304"),
    ("2305 pixels", _bad_row("pixels", _pixels(1) + " 7"), "row 3: pixels has 2305 values"),
    ("no pixels", _bad_row("pixels", ""), "row 3: missing field pixels \\(empty or absent"),
    ("a row without Usage", _rows(SPLITS6).replace(",Training\n", "\n", 1),
     "row 2: missing field Usage \\(empty or absent; each row needs emotion, pixels, Usage\\)"),
    ("a word among pixels", _bad_row("pixels", "x " + _pixels(1).split(" ", 1)[1]), "row 3: pixels contains 'x'"),
    ("a decimal pixel", _bad_row("pixels", "1.5 " + _pixels(1).split(" ", 1)[1]), "row 3: pixels contains '1.5'"),
    ("a signed pixel", _bad_row("pixels", "+5 " + _pixels(1).split(" ", 1)[1]), r"row 3: pixels contains '\+5'"),
    ("pixel 256", _bad_row("pixels", "256 " + _pixels(1).split(" ", 1)[1]), "row 3: pixel value 256 is outside 0-255"),
    ("pixel -1", _bad_row("pixels", "-1 " + _pixels(1).split(" ", 1)[1]), "row 3: pixel value -1 is outside 0-255"),
    ("a 20-digit pixel", _bad_row("pixels", "99999999999999999999 " + _pixels(1).split(" ", 1)[1]),
     "row 3: pixel value 99999999999999999999 is outside 0-255"),
    ("emotion 7", _bad_row("emotion", "7"), "row 3: unknown emotion code '7' \\(expected 0-6\\)"),
    ("emotion as a word", _bad_row("emotion", "happy"), "row 3: unknown emotion code 'happy'"),
    ("unknown Usage", _bad_row("Usage", "Validation"), "row 3: unknown Usage 'Validation'"),
    ("two bad rows", _rows(SPLITS6, {1: ("emotion", "9"), 4: ("Usage", "x")}),
     r"row 3: unknown emotion code '9' .*\(1 more bad row\(s\); use skip_bad_rows"),
    ("truncated gzip", _gzip(_rows(SPLITS6 * 3))[:3000], "not a readable CSV file"),
]


@pytest.mark.parametrize("content, message", [c[1:] for c in CSV_CASES], ids=[c[0] for c in CSV_CASES])
def test_bad_csv_files(tmp_path, content, message):
    path = _write(tmp_path / ("bad.csv.gz" if isinstance(content, bytes) else "bad.csv"), content)
    with pytest.raises(DataError, match=f"^{re.escape(str(path))}(: |, ){message}"):
        load_csv(path)


ROW_CASES = [c for c in CSV_CASES if c[2].startswith("row 3") and "more bad row" not in c[2]]


@pytest.mark.parametrize("content, message", [c[1:] for c in ROW_CASES], ids=[c[0] for c in ROW_CASES])
def test_bad_rows_are_skipped_when_asked(tmp_path, content, message):
    data = load_csv(_write(tmp_path / "bad.csv", content), skip_bad_rows=True)
    assert data.skipped == 1 and len(data) == len(SPLITS6) - 1
    assert data.problems[0].startswith("row 3:")
    assert data.images.dtype == np.uint8 and data.images.shape == (5, 48, 48)


def test_uploaded_gzip_names_the_upload():
    upload = io.BytesIO(_gzip(_bad_row("pixels", "1 2 3")))
    with pytest.raises(DataError, match="^my upload.csv.gz, row 3: pixels has 3 values"):
        load_csv(upload, source="my upload.csv.gz")


def test_bad_rows_are_numbered_across_chunks(tmp_path, monkeypatch):
    """The file is parsed a chunk at a time; row numbers and the good rows must not depend on it."""
    monkeypatch.setattr(fer_data_module, "CHUNK_ROWS", 4)
    usages = ["Training"] * 10
    path = _write(tmp_path / "many.csv", _rows(usages, {6: ("pixels", "1 2"), 9: ("Usage", "Test")}))
    with pytest.raises(DataError, match=r"many.csv, row 8: pixels has 2 values, .*\(1 more bad row"):
        load_csv(path)
    data = load_csv(path, skip_bad_rows=True)
    assert data.problems == ("row 8: pixels has 2 values, expected 2304 (48x48)",
                             "row 11: unknown Usage 'Test' (expected Training, PublicTest, PrivateTest)")
    expected = [np.array(_pixels(i).split(), dtype=np.uint8).reshape(48, 48) for i in range(10) if i not in (6, 9)]
    assert np.array_equal(data.images, np.stack(expected))
    assert data.labels.tolist() == [i % 7 for i in range(10) if i not in (6, 9)]


@pytest.mark.parametrize("usages, split, message", [
    (["Training"] * 3, "PublicTest", "PublicTest has no rows in .*only.csv .*PublicTest 0"),
    (["PublicTest"] * 3, "Training", "Training has no rows in .*only.csv"),
    (["Training"] * 3, "PrivateTest", "PrivateTest has no rows"),
])
def test_empty_split_is_named(tmp_path, usages, split, message):
    data = load_csv(_write(tmp_path / "only.csv", _rows(usages)))
    with pytest.raises(DataError, match=message):
        data.require_split(split)


def test_evaluate_refuses_no_images():
    from fer_core.evaluation.evaluate import evaluate

    with pytest.raises(ValueError, match="no images to evaluate"):
        evaluate(None, np.zeros((0, 48, 48), np.uint8), np.zeros(0, np.int64))
    with pytest.raises(ValueError, match="2 images but 3 labels"):
        evaluate(None, np.zeros((2, 48, 48), np.uint8), np.zeros(3, np.int64))


# ---------------------------------------------------------------- videos


def _clip(path: Path, frames: int = 5) -> bytes:
    import av

    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for _ in range(frames):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(noise, format="rgb24")))
        container.mux(stream.encode())
    return path.read_bytes()


def _audio_only(path: Path) -> Path:
    import av

    with av.open(str(path), "w", format="wav") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
        container.mux(stream.encode())
    return path


VIDEO_CASES: list[tuple[str, Callable[[Path], Path], str]] = [
    ("text named .mp4", lambda d: _write(d / "notes.mp4", "not a video"), "notes.mp4: not a video file that can be decoded"),
    ("empty .mp4", lambda d: _write(d / "empty.mp4", b""), "empty.mp4: not a video file that can be decoded"),
    ("truncated mp4", lambda d: _write(d / "cut.mp4", _clip(d / "whole.mp4")[:2000]), "cut.mp4: not a video file"),
    ("directory", lambda d: (d / "clips").mkdir() or d / "clips", "clips: not a video file .*is a directory"),
    ("missing", lambda d: d / "gone.mp4", "gone.mp4: .*no such file"),
    ("audio only", lambda d: _audio_only(d / "sound.mp4"), "sound.mp4: the file has no video stream"),
]


@pytest.mark.parametrize("make, message", [c[1:] for c in VIDEO_CASES], ids=[c[0] for c in VIDEO_CASES])
def test_bad_video_files(tmp_path, make, message):
    from fer_core.drivers.video import VideoError, analyse_video

    path = make(tmp_path)
    # The file is refused before any frame is analysed, so no model or detector is needed.
    with pytest.raises(VideoError, match=f"(?i){message}"):
        analyse_video(path, None, None)


def test_video_every_must_be_positive(tmp_path):
    from fer_core.drivers.video import analyse_video

    with pytest.raises(ValueError, match="every must be at least 1, got 0"):
        analyse_video(tmp_path / "any.mp4", None, None, every=0)


# ---------------------------------------------------------------- command line


@pytest.fixture
def files(tmp_path) -> dict[str, str]:
    """Real inputs for the CLI cases, by the names the tables use in {braces}."""
    made = {
        "both": _write(tmp_path / "both.csv", _rows(["Training"] * 6 + ["PublicTest"] * 3)),
        "train_only": _write(tmp_path / "train_only.csv", _rows(["Training"] * 6)),
        "val_only": _write(tmp_path / "val_only.csv", _rows(["PublicTest"] * 6)),
        "bad_row": _write(tmp_path / "bad_row.csv", _bad_row("pixels", "1 2 3")),
        "bad_train_only": _write(tmp_path / "bad_train_only.csv", _rows(["Training"] * 4, {1: ("pixels", "1 2 3")})),
        "nocol": _write(tmp_path / "nocol.csv", "emotion,pixels\n0,1 2 3\n"),
        "a_file": _write(tmp_path / "a_file.txt", "I am a file"),
        "image": _write(tmp_path / "face.png", _encoded("PNG")),
        "dir": tmp_path / "a_dir",
        "missing": tmp_path / "missing.csv",
        "out": tmp_path / "run",
        "tmp": tmp_path,
    }
    made["dir"].mkdir()
    return {k: str(v) for k, v in made.items()}


def _main(capsys, argv: list[str]) -> tuple[int, str]:
    """Run the CLI in-process: (exit code, stderr); never a traceback."""
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def _error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    return lines[0]


CLI_CASES: list[tuple[str, str, str]] = [
    # evaluate: everything about the data is refused before a model is loaded
    ("evaluate missing data", "evaluate --data {missing}", "FER2013 not found at .*missing.csv; pass --data"),
    ("evaluate no Usage column", "evaluate --data {nocol}", r"nocol.csv: missing column\(s\) Usage"),
    ("evaluate bad row", "evaluate --data {bad_row}", "bad_row.csv, row 3: pixels has 3 values"),
    ("evaluate empty split", "evaluate --data {train_only}", "PrivateTest has no rows in .*train_only.csv"),
    ("evaluate unknown split", "evaluate --data {both} --split Validation", "unknown split 'Validation'"),
    ("evaluate --json is a folder", "evaluate --data {both} --json {dir}", "--json .*a_dir: is a folder"),
    ("evaluate --json under a file", "evaluate --data {both} --json {a_file}/m.json",
     "--json .*a_file.txt is a file, not a folder"),
    ("select-tta empty PublicTest", "select-tta --data {train_only}", "PublicTest has no rows in"),
    # predict: the output folder is checked before the model is loaded
    ("predict --annotate is a file", "predict {image} --annotate {a_file}", "--annotate .*a_file.txt: is a file, not a folder"),
    ("predict --annotate under a file", "predict {image} --annotate {a_file}/out",
     "--annotate .*a_file.txt is a file, not a folder"),
    ("predict --annotate under /proc", "predict {image} --annotate /proc/fer_no_such/out",
     "--annotate /proc/fer_no_such/out: .*(cannot create this folder|is not writable)"),
    # bench: options are checked before the models are loaded
    ("bench --repeats 0", "bench --repeats 0", "--repeats 0: a median needs at least one timing"),
    ("bench --json is a folder", "bench --json {dir}", "--json .*a_dir: is a folder"),
    # batch: inputs, options and --out are checked before the model is loaded
    ("batch no input matched", "batch {tmp}/none*.jpg {missing} --out {out}.parquet",
     r"no input file: .*none\*.jpg, .*missing.csv matched nothing"),
    ("batch only an empty folder", "batch {dir} --out {out}.parquet", "no input file: .*a_dir matched nothing"),
    ("batch --out is a folder", "batch {image} --out {dir}", "--out .*a_dir: is a folder; give a file path"),
    ("batch --out not a table", "batch {image} --out {a_file}", "--out .*a_file.txt: not a Parquet table"),
    ("batch --every 0", "batch {image} --out {out}.parquet --every 0", "--every 0: expected 1 or more"),
    ("batch --ray-address, local engine", "batch {image} --out {out}.parquet --ray-address auto",
     "--ray-address auto: only with --engine ray"),
]


@pytest.mark.parametrize("argv, message", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_cli_errors_are_one_line(capsys, files, argv, message):
    if "/proc/" in argv and not Path("/proc").is_dir():
        pytest.skip("needs /proc")
    code, err = _main(capsys, argv.format(**files).split())
    assert code == 2
    assert re.search(message, _error_line(err)), err


TRAIN_CASES: list[tuple[str, str, str]] = [
    ("no PublicTest rows", "--data {train_only}", "PublicTest has no rows in .*train_only.csv .*--val-split"),
    ("no Training rows", "--data {val_only}", "Training has no rows in .*val_only.csv"),
    ("empty --val-split", "--data {both} --val-split PrivateTest", "PrivateTest has no rows"),
    ("unknown --val-split", "--data {both} --val-split Validation", "unknown split 'Validation'"),
    ("missing data", "--data {missing}", "FER2013 not found at"),
    ("bad row", "--data {bad_row}", "bad_row.csv, row 3: pixels has 3 values"),
    ("bad row skipped, no PublicTest", "--data {bad_train_only} --skip-bad-rows", "PublicTest has no rows"),
    ("unknown --arch", "--data {both} --arch vit", "unknown architecture 'vit'"),
    ("--out under a file", "--data {both} --out {a_file}/run", "--out .*a_file.txt is a file, not a folder"),
    ("--resume without checkpoint", "--data {both} --resume", "--resume: no checkpoint.keras"),
    ("--batch-size 0", "--data {both} --batch-size 0", "--batch-size 0: expected 1 or more"),
    ("--epochs 0", "--data {both} --epochs 0", "--epochs 0: expected 1 or more"),
    ("--limit -1", "--data {both} --limit -1", "--limit -1: expected 0"),
    ("--ema 1", "--data {both} --ema 1", "--ema 1.0: expected 0 \\(off\\) or a momentum below 1"),
    ("--distill-weight 2", "--data {both} --distill-weight 2", "--distill-weight 2.0: expected between 0 and 1"),
    ("--learning-rate 0", "--data {both} --learning-rate 0", "--learning-rate 0.0: expected above 0"),
]


@pytest.mark.parametrize("argv, message", [c[1:] for c in TRAIN_CASES], ids=[c[0] for c in TRAIN_CASES])
def test_train_refuses_before_making_anything(capsys, files, argv, message):
    args = ["train", "--out", files["out"], *argv.format(**files).split()]
    code, err = _main(capsys, args)
    assert code == 2
    assert re.search(message, _error_line(err)), err
    assert not Path(files["out"]).exists()


def test_train_failure_before_first_epoch_removes_its_folder(capsys, files):
    """--init-from fails after the folder is made and the model built: the folder goes too."""
    args = ["train", "--data", files["both"], "--out", files["out"], "--width", "2", "--augment", "none",
            "--init-from", files["dir"]]
    code, err = _main(capsys, args)
    assert code == 2 and "no metadata.json" in _error_line(err)
    assert not Path(files["out"]).exists()


def test_train_keeps_an_existing_run(capsys, files):
    """A refused run never removes a folder it did not create."""
    out = Path(files["out"])
    out.mkdir()
    (out / "checkpoint.keras").write_bytes(b"weights")
    (out / "state.json").write_text("{}")
    code, err = _main(capsys, ["train", "--data", files["both"], "--out", str(out)])
    assert code == 2 and "already holds a checkpoint; pass --resume" in _error_line(err)
    assert (out / "checkpoint.keras").read_bytes() == b"weights"


def test_predict_reports_each_bad_file_and_goes_on(capsys, files, tmp_path):
    """Loads a model: every bad file is one error line, the good one is still analysed."""
    bad = {
        files["dir"]: "is a directory",
        str(tmp_path / "gone.jpg"): "no such file",
        str(_write(tmp_path / "notes.jpg", "text")): "not an image file",
        str(_write(tmp_path / "cut.png", _encoded("PNG")[:300])): "corrupt or truncated",
    }
    code, err = _main(capsys, ["predict", "--aligned", "--model", str(SMALL_MODEL), files["image"], *bad])
    assert code == 1  # some files failed
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == len(bad)
    for line, (path, message) in zip(lines, bad.items()):
        assert line.startswith(f"error: {path}: {message}"), line


@pytest.mark.parametrize("argv, message", [
    ("predict", "the following arguments are required: images"),
    ("evaluate --tta twelve", "invalid choice: 'twelve'"),
    ("train --epochs many", "invalid int value: 'many'"),
    ("fly", "invalid choice: 'fly'"),
    ("batch photo.jpg --out r.parquet --engine spark", "argument --engine: invalid choice: 'spark'"),
    ("batch --out r.parquet", "the following arguments are required: INPUT"),
])
def test_argument_errors_are_argparse_usage(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv.split())
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err and "Traceback" not in err
