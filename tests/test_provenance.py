"""Every output file says what made it: predict --json and --csv, batch's Parquet, the photo and video pages' downloads.

The fast model (models/student16) keeps each run short; the record must name its weights' sha256,
the package version, the detector, the TTA and the neutral baseline.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

import fer_core
from fer_core import cli
from fer_core.catalog.model import litert_files, live_model_dir, requested_precision
from fer_core.catalog.provenance import FORMAT, sidecar_path
from fer_core.common.hashing import file_sha256

REPO = Path(__file__).resolve().parent.parent
FAST = live_model_dir()


def check(record: dict, *, detector: str, tta: str, baseline: str | None = None) -> None:
    """A provenance record names this checkout's version, the fast model's weights and the settings."""
    assert record["format"] == FORMAT and record["version"] == fer_core.__version__
    assert record["model"]["name"] == FAST.name and record["model"]["folder"] == f"models/{FAST.name}"
    weights = litert_files(FAST, precision=requested_precision())  # the files Classifier.load runs
    assert record["model"]["weights_sha256"] == {f"models/{FAST.name}/{p.name}": file_sha256(p) for p in weights}
    assert record["detector"] == detector and record["tta"] == tta and record["neutral_baseline"] == baseline
    assert isinstance(record["temperature"], float)


@pytest.fixture(scope="module")
def photo(tmp_path_factory, astronaut) -> Path:
    path = tmp_path_factory.mktemp("prov") / "astronaut.jpg"
    Image.fromarray(astronaut).save(path, quality=92)
    return path


def test_predict_json_and_csv_carry_provenance(photo, tmp_path, capsys):
    csv = tmp_path / "faces.csv"
    code = cli.main(["predict", str(photo), "--model", str(FAST), "--detector", "blazeface", "--tta", "flip",
                     "--json", "--csv", str(csv)])
    assert code == 0
    entries = json.loads(capsys.readouterr().out)
    check(entries[0]["provenance"], detector="blazeface", tta="flip")
    assert csv.read_text().splitlines()[0].startswith("file,face")  # the CSV itself stays plain
    check(json.loads(sidecar_path(csv).read_text()), detector="blazeface", tta="flip")


def test_predict_with_a_baseline_records_its_fingerprint(photo, tmp_path, capsys):
    saved = tmp_path / "me.json"
    code = cli.main(["predict", str(photo), "--model", str(FAST), "--neutral", str(photo),
                     "--save-baseline", str(saved), "--json"])
    assert code == 0
    from fer_core.inference.baseline_file import parse_baseline

    fingerprint = parse_baseline(saved.read_bytes(), str(saved)).fingerprint
    entry = json.loads(capsys.readouterr().out)[0]
    check(entry["provenance"], detector="blazeface-multiscale", tta="shift", baseline=fingerprint)


def test_batch_parquet_metadata_carries_provenance(photo, tmp_path):
    import pyarrow.parquet as pq

    from fer_core.drivers.batch_sink import PROVENANCE_KEY

    out = tmp_path / "results.parquet"
    assert cli.main(["batch", str(photo), "--out", str(out), "--model", str(FAST)]) == 0
    metadata = pq.read_schema(out).metadata
    check(json.loads(metadata[PROVENANCE_KEY]), detector="blazeface-multiscale", tta="shift")


def test_photo_page_downloads_carry_provenance(photo, classifier):
    from ui import photo as photo_ui
    from ui.sidebar import Settings

    settings = Settings(model_dir=FAST, detector="blazeface", min_confidence=0.4)
    analysis = photo_ui.analyse(photo.name, photo.read_bytes(), settings)
    document = json.loads(analysis.json())
    assert document["faces"] and document["file"] == photo.name
    check(document["provenance"], detector="blazeface", tta="shift")


def test_video_page_csv_has_a_provenance_sidecar(tracking_clips, classifier):
    from fer_core.inference.detect import make_detector
    from ui import video

    path, _ = tracking_clips["crossing"]
    outcome = video.analyse(Path(path).name, Path(path).read_bytes(), classifier, make_detector("blazeface"),
                            every=5, min_confidence=0.0, job=())
    assert outcome.csv().splitlines()[0].startswith(b"frame")
    check(outcome.provenance, detector="blazeface", tta=classifier.tta)
