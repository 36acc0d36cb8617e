"""The robustness report: camera-like corruptions of real faces, and accuracy under them."""
from __future__ import annotations

import json

import numpy as np
import pytest

from fer_core.cli import main
from fer_core.evaluation.corruptions import CORRUPTIONS, SEVERITIES, corrupt
from fer_core.catalog.model import live_model_dir
from tests.conftest import write_fer_csv


@pytest.fixture(scope="module")
def faces(fer_data):
    return fer_data.split("PublicTest")[0][:200]


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_each_corruption_changes_faces_more_at_higher_severity(faces, name):
    distances = []
    for level in SEVERITIES:
        out = corrupt(faces, name, level)
        assert out.shape == faces.shape and out.dtype == np.uint8
        distances.append(float(np.mean(np.abs(out.astype(np.int16) - faces))))
    assert 0 < distances[0] < distances[1] < distances[2], distances
    np.testing.assert_array_equal(corrupt(faces, name, 2, seed=3), corrupt(faces, name, 2, seed=3))


def test_bad_names_and_severities_are_refused(faces):
    with pytest.raises(ValueError, match="unknown corruption 'fog'"):
        corrupt(faces, "fog", 1)
    with pytest.raises(ValueError, match="severity must be one of"):
        corrupt(faces, "blur", 4)


#: PublicTest faces the report is scored on: enough that the weakest effect (box jitter, 2 points
#: from severity 1 to 3 on the fast model's PrivateTest) is not lost in noise; the report itself
#: is the same code on any number of faces.
REPORT_FACES = 1000


def test_evaluate_prints_and_keeps_the_robustness_report(fer_data, tmp_path, capsys):
    data = write_fer_csv(tmp_path / "public.csv", *(part[:REPORT_FACES] for part in fer_data.split("PublicTest")),
                         "PublicTest")
    out = tmp_path / "eval.json"
    assert main(["evaluate", "--data", str(data), "--split", "PublicTest", "--model", str(live_model_dir()),
                 "--tta", "none", "--corruptions", "--json", str(out)]) == 0
    report = json.loads(out.read_text())["robustness"]
    assert set(report["corruptions"]) == set(CORRUPTIONS)
    scores = [v for row in report["corruptions"].values() for v in row.values()]
    assert report["mean"] == pytest.approx(np.mean(scores))
    assert report["mean"] < report["clean"]  # the corruptions do hurt a model trained on clean faces
    assert all(row["3"] <= row["1"] + 0.02 for row in report["corruptions"].values())  # worse when stronger
    assert "mean under corruptions" in capsys.readouterr().out
