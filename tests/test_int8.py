"""Integer networks: the shipped int8 files pass their accuracy gates, the runtime picks them, and the export gates them."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from fer_core.catalog.model import (INT8_FILE, MODEL_FILE, PRECISION_ENV, TFLITE_FILE, ModelError, default_model_dir,
                                    live_model_dir, member_dirs, read_metadata)
from fer_core.cli import main
from fer_core.common.hashing import file_sha256
from fer_core.evaluation.int8_gates import (MIN_AGREEMENT, export_int8_folder, gate_metrics, network_input, run_litert,
                                           slice_gates)
from fer_core.inference.classifier import Classifier

#: every network shipped: the accurate ensemble's members and the fast model
NETWORKS = sorted({*member_dirs(default_model_dir()), *member_dirs(live_model_dir())})
#: the PublicTest slice the gates are checked on in the suite (the export checks the whole split)
SLICE = 400


@pytest.fixture(scope="module")
def public_slice(fer_data) -> tuple[np.ndarray, np.ndarray]:
    images, labels = fer_data.split("PublicTest")
    return images[:SLICE], labels[:SLICE]


@pytest.mark.parametrize("member", NETWORKS, ids=[m.name for m in NETWORKS])
def test_shipped_int8_network_passes_its_gates(member, public_slice):
    """The int8 file is the one the metadata names, made from a fixed Training sample, accepted on the
    whole of PublicTest, and a PublicTest slice here is consistent with the same gates."""
    meta = read_metadata(member)
    record = meta["runtimes"]["litert_int8"]
    assert record["accepted"] and record["gates"]["split"] == "PublicTest" and record["gates"]["n"] == 3589
    assert record["representative_set"] == {"split": "Training", "size": 1000, "seed": 0}
    assert record["sha256"] == file_sha256(member / INT8_FILE)
    assert record["keras_sha256"] == file_sha256(member / MODEL_FILE)
    assert record["float_sha256"] == meta["runtimes"]["litert"]["sha256"] == file_sha256(member / TFLITE_FILE)
    images, labels = public_slice
    batch = network_input(images, meta)
    gates = slice_gates(labels, run_litert(member / TFLITE_FILE, batch), run_litert(member / INT8_FILE, batch))
    assert gates["consistent"], gates["reasons"]


def test_gates_refuse_a_network_that_is_not_the_twin(public_slice):
    """Two different networks (the fast student against a VGG member) disagree on many faces: refused, with the
    reason, by the export's gates and by the slice check alike."""
    student, other = live_model_dir(), member_dirs(default_model_dir())[0]
    images, labels = public_slice
    probs = (run_litert(student / TFLITE_FILE, network_input(images, read_metadata(student))),
             run_litert(other / INT8_FILE, network_input(images, read_metadata(other))))
    gates, on_slice = gate_metrics(labels, *probs), slice_gates(labels, *probs)
    assert not gates["accepted"] and gates["agreement"] < MIN_AGREEMENT
    assert not on_slice["consistent"] and on_slice["agreement"][1] < MIN_AGREEMENT
    for reasons in (gates["reasons"], on_slice["reasons"]):
        assert any("top label agrees" in reason for reason in reasons)


def test_classifier_runs_int8_by_default_and_float_when_asked(monkeypatch, astronaut):
    monkeypatch.delenv(PRECISION_ENV, raising=False)
    default = Classifier.load(live_model_dir())
    assert default.precision == "int8" and default.runtime_label.startswith("LiteRT int8, ")
    monkeypatch.setenv(PRECISION_ENV, "float32")
    floating = Classifier.load(live_model_dir())
    assert floating.precision == "float32" and floating.runtime_label.startswith("LiteRT float32, ")
    assert Classifier.load(live_model_dir(), precision="int8").precision == "int8"  # the argument wins
    assert Classifier.load(live_model_dir(), runtime="keras").precision == "float32"
    face = astronaut[30:230, 150:330]
    p_int8, p_float = default.predict_proba([face], "none"), floating.predict_proba([face], "none")
    assert p_int8.sum() == pytest.approx(1.0, abs=1e-5) and p_int8.argmax() == p_float.argmax()
    assert not np.array_equal(p_int8, p_float)  # really another network
    monkeypatch.setenv(PRECISION_ENV, "int4")
    with pytest.raises(ModelError, match=f"\\${PRECISION_ENV} 'int4': expected one of int8, float32"):
        Classifier.load(live_model_dir())


def test_ensemble_runs_its_integer_members(monkeypatch):
    monkeypatch.delenv(PRECISION_ENV, raising=False)
    ensemble = Classifier.load(default_model_dir())
    assert ensemble.precision == "int8"
    assert Classifier.load(default_model_dir(), precision="float32").precision == "float32"


def test_missing_or_stale_int8_file_falls_back_to_float(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(live_model_dir(), folder)
    meta = read_metadata(folder)
    stale = {**meta, "runtimes": {**meta["runtimes"], "litert_int8": {**meta["runtimes"]["litert_int8"], "keras_sha256": "0" * 64}}}
    (folder / "metadata.json").write_text(json.dumps(stale))
    assert Classifier.load(folder).precision == "float32"  # made from other weights: never run
    (folder / "metadata.json").write_text(json.dumps(meta))
    assert Classifier.load(folder).precision == "int8"
    (folder / INT8_FILE).unlink()
    assert Classifier.load(folder).precision == "float32"


def test_export_writes_records_and_refuses(tmp_path, fer_data, public_slice, monkeypatch):
    """The integer export on real faces (a small Training sample, a PublicTest slice): an accepted file
    with its record, then the same network under an impossible agreement bar: removed, and why."""
    folder = tmp_path / "model"
    shutil.copytree(live_model_dir(), folder)
    (folder / INT8_FILE).unlink()
    training = fer_data.split("Training")[0][:200]
    images, labels = public_slice
    [(member, record)] = export_int8_folder(folder, training, images, labels)
    assert member == folder and record["accepted"] and (folder / INT8_FILE).is_file()
    assert record["representative_set"] == {"split": "Training", "size": 200, "seed": 0}
    assert read_metadata(folder)["runtimes"]["litert_int8"]["sha256"] == file_sha256(folder / INT8_FILE)
    monkeypatch.setattr("fer_core.evaluation.int8_gates.MIN_AGREEMENT", 1.01)
    [(_, refused)] = export_int8_folder(folder, training, images, labels)
    assert not refused["accepted"] and not (folder / INT8_FILE).exists()
    assert read_metadata(folder)["runtimes"]["litert_int8"]["gates"]["reasons"] == refused["gates"]["reasons"] != []
    assert Classifier.load(folder).precision == "float32"


def test_predict_json_names_the_precision(tmp_path, astronaut, capsys, monkeypatch):
    from PIL import Image

    monkeypatch.delenv(PRECISION_ENV, raising=False)
    path = tmp_path / "astronaut.png"
    Image.fromarray(astronaut).save(path)
    for precision in ("float32", "int8"):
        assert main(["predict", str(path), "--model", str(live_model_dir()), "--json", "--precision", precision]) == 0
        [entry] = json.loads(capsys.readouterr().out)
        assert entry["precision"] == precision and entry["model"] == read_metadata(live_model_dir())["name"]
        assert entry["faces"]


def test_photo_json_names_the_precision(classifier, astronaut):
    from fer_core.drivers.photo import analyse_photo
    from fer_core.inference.detect import make_detector

    result = analyse_photo(astronaut, classifier, make_detector("blazeface"), explain=False)
    saved = json.loads(result.json("astronaut.png", classifier.name, "blazeface", classifier.precision))
    assert saved["precision"] == classifier.precision == "int8" and saved["model"] == classifier.name
    assert saved["faces"]


def test_export_command_int8_on_a_small_csv(tmp_path, fer_data, capsys):
    """``export --precision int8`` with a FER2013 CSV of real faces (200 Training, 300 PublicTest): the
    integer file, its gates' line, and the float file left as it was."""
    import pandas as pd

    from tests.conftest import write_fer_csv

    folder = tmp_path / "model"
    shutil.copytree(live_model_dir(), folder)
    (folder / INT8_FILE).unlink()
    float_sha = file_sha256(folder / TFLITE_FILE)
    parts = []
    for usage, n in (("Training", 200), ("PublicTest", 300)):
        images, labels = fer_data.split(usage)
        parts.append(write_fer_csv(tmp_path / f"{usage}.csv", images[:n], labels[:n], usage))
    data = tmp_path / "small.csv"
    pd.concat([pd.read_csv(part) for part in parts]).to_csv(data, index=False)
    assert main(["export", str(folder), "--precision", "int8", "--data", str(data)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {folder / INT8_FILE}; PublicTest accuracy" in printed and "top label agrees on" in printed
    assert file_sha256(folder / TFLITE_FILE) == float_sha
    record = read_metadata(folder)["runtimes"]["litert_int8"]
    assert record["gates"]["n"] == 300 and record["representative_set"]["size"] == 200


def test_batch_and_predict_run_the_precision_asked(tmp_path, astronaut, capsys, monkeypatch):
    """``batch --precision`` reaches the workers: its rows are ``predict``'s at the same precision, and differ between the two."""
    import pandas as pd
    from PIL import Image

    monkeypatch.setenv(PRECISION_ENV, "int8")  # restored after the test, whatever batch sets
    photo = tmp_path / "astronaut.png"
    Image.fromarray(astronaut).save(photo)
    model = str(live_model_dir())
    happy = {}
    for precision in ("float32", "int8"):
        out = tmp_path / f"{precision}.parquet"
        assert main(["batch", str(photo), "--out", str(out), "--model", model, "--precision", precision]) == 0
        capsys.readouterr()
        assert main(["predict", str(photo), "--model", model, "--json", "--precision", precision]) == 0
        [entry] = json.loads(capsys.readouterr().out)
        happy[precision] = pd.read_parquet(out)["Happy"].iloc[0]
        assert happy[precision] == pytest.approx(entry["faces"][0]["probabilities"]["Happy"], abs=1e-4)
    assert happy["float32"] != happy["int8"]


def test_evaluate_reports_its_precision_and_records_float32(tmp_path, fer_data, monkeypatch):
    from tests.conftest import write_fer_csv

    monkeypatch.delenv(PRECISION_ENV, raising=False)
    images, labels = fer_data.split("PublicTest")
    data = write_fer_csv(tmp_path / "public.csv", images[:100], labels[:100], "PublicTest")
    for precision in ("float32", "int8"):
        out = tmp_path / f"{precision}.json"
        assert main(["evaluate", "--data", str(data), "--split", "PublicTest", "--model", str(live_model_dir()),
                     "--tta", "none", "--precision", precision, "--json", str(out)]) == 0
        assert json.loads(out.read_text())["precision"] == precision
    folder = tmp_path / "model"
    shutil.copytree(live_model_dir(), folder)
    assert main(["evaluate", "--data", str(data), "--split", "PublicTest", "--model", str(folder), "--tta", "none",
                 "--precision", "int8", "--record"]) == 2  # stored evaluations are float32's
    assert main(["evaluate", "--data", str(data), "--split", "PublicTest", "--model", str(folder), "--tta", "none",
                 "--record"]) == 0
    assert json.loads((folder / "evaluation" / "PublicTest.json").read_text())["precision"] == "float32"
