"""Metrics on hand-checkable input, and the bundled model on the real PrivateTest split."""
import json
import subprocess
import sys

import numpy as np
import pytest

from fer_core.catalog.evaluations import WATCHED_CLASSES, Evaluation
from fer_core.evaluation.evaluate import classification_metrics, evaluate, format_report, leak_free_metrics, reliability_bins
from fer_core.catalog.model import TTA_MODES
from tests.conftest import REPO, write_fer_csv


def test_metrics_on_a_small_known_case():
    labels = ("a", "b", "c")
    y_true = np.array([0, 0, 1, 1, 2, 2])
    probs = np.eye(3)[[0, 1, 1, 1, 2, 0]] * 0.9 + 0.1 / 3
    m = classification_metrics(y_true, probs, labels)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert m["per_class"]["b"] == {"precision": pytest.approx(2 / 3), "recall": 1.0, "f1": pytest.approx(0.8), "support": 2}
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert "a" in format_report(m)


def test_leak_free_metrics_leave_out_images_seen_in_training():
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (6, 48, 48), dtype=np.uint8)
    training = np.concatenate([images[[1, 4]], rng.integers(0, 256, (3, 48, 48), dtype=np.uint8)])
    labels = ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")
    y_true = np.array([0, 1, 2, 3, 4, 5])
    probs = np.eye(7)[[0, 1, 0, 3, 0, 5]]  # wrong on 2 (Fear) and on 4 (Sad, which is also in Training)
    free = leak_free_metrics(y_true, probs, labels, images, training)
    assert free["n"] == 4 and free["excluded"] == 2
    assert free["accuracy"] == pytest.approx(3 / 4)
    assert free["recall"]["Fear"] == 0.0 and free["recall"]["Angry"] == 1.0
    metrics = classification_metrics(y_true, probs, labels)
    metrics["leak_free"] = free
    report = format_report(metrics)
    assert "recall    Angry 1.000  Disgust 1.000  Fear 0.000" in report  # on all 6 images
    assert "leak-free accuracy 0.7500  (n=4: without the 2 image(s)" in report
    stored = Evaluation("PrivateTest", "none", metrics["accuracy"], metrics["macro_f1"], 6, metrics)
    assert stored.leak_free["accuracy"] == pytest.approx(0.75) and stored.recall("Fear") == 0.0


def test_reliability_bins_count_everything():
    conf = np.array([0.05, 0.15, 0.95, 0.99, 1.0])
    rel = reliability_bins(conf, np.array([False, False, True, True, False]))
    assert sum(b["count"] for b in rel["bins"]) == 5
    assert rel["bins"][9]["count"] == 3 and rel["bins"][9]["accuracy"] == pytest.approx(2 / 3)


@pytest.mark.slow
def test_bundled_model_reaches_66_percent_on_private_test(tmp_path, data_path):
    out = tmp_path / "private.json"
    result = subprocess.run(
        [sys.executable, "-m", "fer_core", "evaluate", "--data", str(data_path), "--split", "PrivateTest",
         "--json", str(out)], cwd=REPO, capture_output=True, text=True,
        timeout=1800)  # a hang guard: 4 min alone on 2 cores, 8 beside the browser tests
    assert result.returncode == 0, result.stderr
    metrics = json.loads(out.read_text())
    assert {"accuracy", "macro_f1", "per_class", "confusion_matrix"} <= set(metrics)
    assert metrics["n"] == 3589
    assert np.sum(metrics["confusion_matrix"]) == 3589
    print(f"bundled model PrivateTest accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f}")
    assert metrics["accuracy"] >= 0.66
    assert f"accuracy  {metrics['accuracy']:.4f}" in result.stdout
    free = metrics["leak_free"]
    assert free["n"] + free["excluded"] == 3589 and 0 < free["excluded"] < 700
    assert f"leak-free accuracy {free['accuracy']:.4f}" in result.stdout
    for name in WATCHED_CLASSES:
        assert f"{name} {metrics['per_class'][name]['recall']:.3f}" in result.stdout


def test_evaluate_cli_bad_data_is_one_clear_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("emotion,pixels\n0,1 2 3\n")
    result = subprocess.run([sys.executable, "-m", "fer_core", "evaluate", "--data", str(bad)], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert "error: " in result.stderr and "missing column(s) Usage" in result.stderr
    assert "Traceback" not in result.stderr


def test_evaluate_cli_skips_bad_rows_when_asked(tmp_path, fer_data):
    import pandas as pd

    path = write_fer_csv(tmp_path / "some.csv", *(part[:50] for part in fer_data.split("PrivateTest")), "PrivateTest")
    rows = pd.read_csv(path, dtype=str)
    rows.iloc[7, rows.columns.get_loc("pixels")] = "1 2 3"
    rows.to_csv(path, index=False)
    cmd = [sys.executable, "-m", "fer_core", "evaluate", "--data", str(path), "--json", str(tmp_path / "m.json")]
    refused = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and "some.csv, row 9: pixels has 3 values" in refused.stderr
    skipped = subprocess.run(cmd + ["--skip-bad-rows"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert skipped.returncode == 0, skipped.stderr
    assert "skipped 1 bad row(s)" in skipped.stderr
    assert json.loads((tmp_path / "m.json").read_text())["n"] == 49


def test_evaluate_refuses_a_model_whose_labels_are_not_fer2013s_order(fer_data):
    """Scores compare FER2013 codes with output indices: a model with another label order would be
    scored wrongly without a word, so it is refused; the same network with FER2013's order is scored."""
    from fer_core.training.architectures import build
    from fer_core.inference.classifier import Classifier
    from fer_core.evaluation.evaluate import evaluate, require_fer2013_labels
    from fer_core.common.labels import LABELS
    from fer_core.catalog.model import ModelError

    network, spec = build("vgg", len(LABELS), augment="none", width=4)
    images, labels = fer_data.split("PrivateTest")
    metadata = {"name": "shuffled", "labels": list(reversed(LABELS)), "input_spec": spec.to_dict(),
                "architecture": {"name": "vgg"}}
    shuffled = Classifier(network, metadata)
    with pytest.raises(ModelError, match="shuffled: its labels Neutral, Surprise.* are not FER2013's Angry, Disgust"):
        evaluate(shuffled, images[:20], labels[:20])
    with pytest.raises(ModelError, match="not FER2013's"):
        require_fer2013_labels(Classifier(network, {**metadata, "labels": list(LABELS[:6]) + ["Calm"]}))
    metrics, probabilities = evaluate(Classifier(network, {**metadata, "labels": list(LABELS)}), images[:20], labels[:20])
    assert metrics["n"] == 20 and probabilities.shape == (20, len(LABELS)) and metrics["labels"] == list(LABELS)


def test_select_tta_on_public_test_becomes_the_default(classifier, fer_data, tmp_path):
    import shutil

    from fer_core.inference.classifier import Classifier
    from fer_core.evaluation.evaluate import select_tta, store_default_tta

    images, labels = fer_data.split("PublicTest")
    best, blur, scores = select_tta(classifier, images[:300], labels[:300], blur_sigmas=(0.0, 0.6))
    assert set(scores) == {0.0, 0.6} and all(set(by_tta) == set(TTA_MODES) for by_tta in scores.values())
    assert scores[blur][best] == max(a for by_tta in scores.values() for a in by_tta.values())
    assert scores[0.6]["none"] != scores[0.0]["none"]  # the blur really reaches the network
    for mode in TTA_MODES:  # "none" and "flip", read off shift's first views, score as passes of their own
        assert scores[0.6][mode] == evaluate(classifier, images[:300], labels[:300], tta=mode, input_blur_sigma=0.6)[0]["accuracy"]
    shutil.copytree(classifier.folder.parent, tmp_path / "models")  # all models: an ensemble names its members
    copy = tmp_path / "models" / classifier.folder.name
    store_default_tta(copy, best, blur, scores, "PublicTest")
    reloaded = Classifier.load(copy)
    assert reloaded.tta == best and reloaded.input_blur_sigma == blur
    assert reloaded.metadata["inference"]["selected_on"] == "PublicTest"
    metrics, _ = evaluate(reloaded, images[:300], labels[:300])
    assert metrics["input_blur_sigma"] == blur and metrics["accuracy"] == scores[blur][best]


def test_select_tta_cli_tries_only_the_settings_asked_for(fer_data, tmp_path, capsys):
    """``select-tta --tta none flip --input-blur 0 0.6``: four settings on PublicTest (600 real faces
    of it), the best stored; the old ``--smoothing`` still works and says once that it is deprecated."""
    import shutil

    from fer_core.cli import main
    from fer_core.catalog.model import read_metadata

    data_path = write_fer_csv(tmp_path / "public.csv", *(part[:600] for part in fer_data.split("PublicTest")),
                              "PublicTest")

    copy = tmp_path / "student16"
    shutil.copytree("models/student16", copy)
    assert main(["select-tta", "--model", str(copy), "--data", str(data_path),
                 "--tta", "none", "flip", "--input-blur", "0", "0.6"]) == 0
    inference = read_metadata(copy)["inference"]
    tried = inference["accuracy_by_input_blur"]
    assert set(tried) == {"0.0", "0.6"} and all(set(by_tta) == {"none", "flip"} for by_tta in tried.values())
    assert tried[str(inference["input_blur_sigma"])][inference["tta"]] == max(a for t in tried.values() for a in t.values())
    captured = capsys.readouterr()
    assert captured.out.count("PublicTest accuracy with tta=") == 4 and "deprecated" not in captured.err
    assert main(["select-tta", "--model", str(copy), "--data", str(data_path), "--smoothing", "-1"]) != 0
    captured = capsys.readouterr()
    assert captured.err.count("--smoothing is deprecated and will be removed; use --input-blur") == 1
    assert "--input-blur: a blur sigma is 0 or more" in captured.err + captured.out
