"""Studies end to end on real faces: clips with a known schedule, several participants, one bad video.

The clips are built here from real faces: scikit-image's astronaut (fer_core/evaluation/sample_frames.py) and
FER2013 faces (the first rows of the real file) pasted into grey frames, with faces present or
absent on a schedule. Every figure is checked against a hand computation from frames.parquet.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from fer_core.cli import main
from fer_core.study import store
from fer_core.study.design import StudyError, read_design
from fer_core.study.summary import bootstrap_ci
from fer_core.evaluation.sample_frames import face_frame, head_and_shoulders
from tests.study_clips import FER_HAPPY, FER_HAPPY2, FER_NEUTRAL, FER_NEUTRAL2, SIZE, fer_face, fer_frame, write_clip

EVERY = 2
LABELS = ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")


@pytest.fixture(scope="module")
def design_dir(tmp_path_factory, data_path) -> Path:
    """study.csv, markers.csv and four recordings (one bad), with per-participant timings for P3."""
    folder = tmp_path_factory.mktemp("study")
    astronaut, _ = face_frame(head_and_shoulders(), 0.3, *SIZE)
    empty = np.full((SIZE[1], SIZE[0], 3), 128, np.uint8)
    happy, neutral = fer_frame(fer_face(data_path, FER_HAPPY)), fer_frame(fer_face(data_path, FER_NEUTRAL))
    happy2, neutral2 = fer_frame(fer_face(data_path, FER_HAPPY2)), fer_frame(fer_face(data_path, FER_NEUTRAL2))
    (folder / "videos").mkdir()
    # P1: the face leaves during stimulus B (2.0-3.5 s)
    write_clip(folder / "videos/p1.mp4", [(2.0, astronaut), (1.6, empty), (0.4, astronaut)])
    # P2: one neutral second (their baseline), then a smile
    write_clip(folder / "videos/p2.mp4", [(1.0, neutral2), (3.0, happy2)])
    # P3: a neutral photo as baseline; a smile throughout
    write_clip(folder / "videos/p3.mp4", [(4.0, happy)])
    cv2.imwrite(str(folder / "p3_neutral.png"), neutral[..., ::-1])
    (folder / "videos/p4.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not a video at all" * 40)
    write_clip(folder / "videos/p5.mp4", [(4.0, neutral)])  # added later
    (folder / "study.csv").write_text(
        "participant,video,neutral_image,neutral_seconds,group\n"
        "P1,videos/p1.mp4,,,A\nP2,videos/p2.mp4,,1,B\nP3,videos/p3.mp4,p3_neutral.png,,A\nP4,videos/p4.mp4,,,B\n")
    (folder / "markers.csv").write_text("participant,stimulus,onset,offset\n"
                                        ",A,1.0,2.0\n,B,2.0,3.5\nP3,B,2.5,3.9\n")
    return folder


@pytest.fixture(scope="module")
def study(design_dir, tmp_path_factory) -> tuple[Path, int]:
    """The study run once through the CLI: its output folder and exit code."""
    out = tmp_path_factory.mktemp("out") / "study"
    code = main(["study", "run", str(design_dir / "study.csv"), "--markers", str(design_dir / "markers.csv"),
                 "--out", str(out), "--every", str(EVERY), "--by", "group"])
    return out, code


def test_outputs_have_the_issue_columns(study):
    out, code = study
    assert code == 1  # P4's video failed: reported, the others analysed
    for name in ("frames.parquet", "epochs.csv", "summary.csv", "methods.md", "manifest.json", "study.duckdb",
                 "summary_by_group.csv", "exclusions.csv"):
        assert (out / name).is_file(), name
    epochs = pd.read_csv(out / "epochs.csv")
    assert list(epochs.columns) == ["participant", "stimulus", "emotion", "mean", "frames", "valid_frames", "group"]
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.columns) == ["stimulus", "emotion", "mean", "ci_low", "ci_high", "participants",
                                     "pct_participants"]
    frames = pd.read_parquet(out / "frames.parquet")
    for column in ("participant", "group", "time_s", "person", "stimulus", *LABELS):
        assert column in frames.columns
    assert set(frames["participant"]) == {"P1", "P2", "P3"}
    assert set(epochs["participant"]) == {"P1", "P2", "P3"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert all(len(sha) == 64 for sha in manifest["model"]["weights_sha256"].values())
    videos = {i["participant"]: i for i in manifest["inputs"] if i["role"] == "video"}
    assert videos["P1"]["size"] == (Path(manifest["inputs"][0]["path"]).parent / "videos/p1.mp4").stat().st_size
    failed = [p for p in manifest["participants"] if p["status"] == "failed"]
    assert [p["participant"] for p in failed] == ["P4"] and "line 5" in failed[0]["error"]
    methods = (out / "methods.md").read_text()
    assert "tracked longest" in methods and "P4" in methods and "excluded" in methods
    # P1: 10 analysed frames with the face, 8 without, then 2 with it again under a new person ID (ByteTrack gives
    # an ID from a new track's second frame): the returning track is joined to P1's face
    shares = {p["participant"]: p.get("face_share") for p in manifest["participants"]}
    assert shares["P1"] == pytest.approx((10 + 1) / 20) and shares["P3"] == 1.0 and shares["P4"] is None


def test_window_means_match_a_hand_computation(study, design_dir):
    out, _ = study
    frames = pd.read_parquet(out / "frames.parquet")
    epochs = pd.read_csv(out / "epochs.csv")
    design = read_design(design_dir / "study.csv", design_dir / "markers.csv")
    checked = 0
    for window in design.windows:
        mine = epochs[(epochs["participant"] == window.participant) & (epochs["stimulus"] == window.stimulus)]
        if window.participant == "P4":  # the bad video: no rows, no epochs
            assert mine.empty
            continue
        rows = frames[(frames["participant"] == window.participant)]
        inside = rows[(rows["time_s"] >= window.onset) & (rows["time_s"] < window.offset)]
        # the participant's face: the person in the most frames of their video (here the only face in each frame,
        # so every track continues it: P1's face comes back with a new ID after 1.6 s away)
        assert rows.groupby("frame")["face"].count().max() == 1
        valid = inside[inside["person"].notna() & (inside["quality"].fillna("") == "")]
        assert (mine["frames"] == inside["frame"].nunique()).all()
        assert (mine["valid_frames"] == len(valid)).all()
        for emotion in LABELS:
            got = mine.loc[mine["emotion"] == emotion, "mean"].item()
            if len(valid):
                assert got == pytest.approx(valid[emotion].mean(), abs=1e-9)
                checked += 1
            else:
                assert np.isnan(got)
    assert checked >= 4 * len(LABELS)
    # P3's own timing for B (2.5-3.9 s), not everyone's (2.0-3.5 s)
    p3 = frames[(frames["participant"] == "P3") & frames["stimulus"].eq("B")]
    assert p3["time_s"].min() >= 2.5 and p3["time_s"].max() < 3.9
    # the neutral baselines were used: P2 and P3 are calibrated, P1 is not
    read_vs_neutral = frames.dropna(subset=["face"]).groupby("participant")["vs_neutral"].all()
    assert read_vs_neutral["P2"] and read_vs_neutral["P3"] and not read_vs_neutral["P1"]


def test_summary_matches_a_hand_computation(study):
    out, _ = study
    epochs = pd.read_csv(out / "epochs.csv")
    summary = pd.read_csv(out / "summary.csv")
    counted = epochs[(epochs["valid_frames"] > 0) & (epochs["valid_frames"] >= 0.5 * epochs["frames"])]
    for row in summary.itertuples():
        values = counted[(counted["stimulus"] == row.stimulus) & (counted["emotion"] == row.emotion)]["mean"]
        assert row.participants == len(values)
        assert row.mean == pytest.approx(values.mean(), abs=1e-9)
        low, high = bootstrap_ci(values.to_numpy())
        assert (row.ci_low, row.ci_high) == pytest.approx((low, high), abs=1e-9, nan_ok=True)
        if len(values) >= 2 and values.std() > 0:
            assert row.ci_low <= row.mean <= row.ci_high
        window = counted[counted["stimulus"] == row.stimulus]
        top = window.loc[window.groupby("participant")["mean"].idxmax(), "emotion"]
        assert row.pct_participants == pytest.approx(100 * (top == row.emotion).mean())
    assert summary.groupby("stimulus")["pct_participants"].sum().round(6).eq(100).all()
    by = pd.read_csv(out / "summary_by_group.csv")
    assert list(by.columns[:2]) == ["group", "stimulus"] and set(by["group"]) == {"A", "B"}


def test_an_absent_face_gives_no_valid_frame_and_an_exclusion(study):
    out, _ = study
    epochs = pd.read_csv(out / "epochs.csv")
    p1b = epochs[(epochs["participant"] == "P1") & (epochs["stimulus"] == "B")]
    assert (p1b["frames"] > 0).all() and (p1b["valid_frames"] == 0).all() and p1b["mean"].isna().all()
    exclusions = pd.read_csv(out / "exclusions.csv", keep_default_na=False)
    assert {("P1", "B"), ("P4", "")} <= set(zip(exclusions["participant"], exclusions["stimulus"]))
    summary = pd.read_csv(out / "summary.csv")
    assert (summary.loc[summary["stimulus"] == "B", "participants"] == 2).all()


def test_a_reopened_store_is_unchanged(study):
    out, _ = study
    tables, manifest = store.load(out)
    again, manifest_again = store.load(out)
    assert manifest == manifest_again == json.loads((out / "manifest.json").read_text())
    for name in ("epochs", "summary", "exclusions"):
        pd.testing.assert_frame_equal(tables[name], again[name])
        written = pd.read_csv(out / f"{name}.csv", keep_default_na=name == "summary" or name == "epochs")
        stored = tables[name]
        assert list(stored.columns) == list(written.columns)
        numeric = stored.select_dtypes("number").columns
        np.testing.assert_allclose(stored[numeric].to_numpy(float), written[numeric].to_numpy(float), atol=1e-9)
    assert len(tables["frames"]) == len(pd.read_parquet(out / "frames.parquet"))
    assert store.query(out, "SELECT count(DISTINCT participant) AS n FROM epochs")["n"].item() == 3


def test_adding_a_participant_analyses_only_that_video(study, design_dir, tmp_path):
    from fer_core.study.run import run_study

    out, _ = study
    copy = tmp_path / "study"
    shutil.copytree(out, copy)
    extended = design_dir / "study_extended.csv"
    extended.write_text((design_dir / "study.csv").read_text() + "P5,videos/p5.mp4,,,B\n")
    before = pd.read_parquet(out / "frames.parquet")
    result = run_study(extended, design_dir / "markers.csv", copy, every=EVERY)
    assert result.analysed == ("P5",)
    assert result.reused == ("P1", "P2", "P3")
    assert set(result.failed) == {"P4"}
    after = pd.read_parquet(copy / "frames.parquet")
    old = after[after["participant"] != "P5"].reset_index(drop=True)
    pd.testing.assert_frame_equal(old[before.columns], before, check_dtype=False)
    assert (after["participant"] == "P5").sum() > 0


def test_local_and_ray_give_the_same_tables(design_dir, tmp_path):
    pytest.importorskip("ray")
    from fer_core.study.run import run_study

    small = design_dir / "study_small.csv"
    small.write_text("participant,video,neutral_image,neutral_seconds,group\n"
                     "P3,videos/p3.mp4,p3_neutral.png,,A\nP4,videos/p4.mp4,,,B\n")
    markers = _markers_for(design_dir, ["P3"])
    local = run_study(small, markers, tmp_path / "local", every=4)
    ray = run_study(small, markers, tmp_path / "ray", every=4, engine="ray")
    assert ray.failed.keys() == local.failed.keys() == {"P4"}
    for name in ("frames", "epochs", "summary", "exclusions"):
        pd.testing.assert_frame_equal(local.tables[name], ray.tables[name])


def _markers_for(design_dir: Path, participants: list[str]) -> Path:
    path = design_dir / "markers_small.csv"
    path.write_text("participant,stimulus,onset,offset\n,A,1.0,2.0\n"
                    + "".join(f"{p},B,2.5,3.9\n" for p in participants))
    return path


@pytest.mark.parametrize("study_text, markers_text, message", [
    ("participant,file\nP1,a.mp4\n", "stimulus,onset,offset\nA,0,1\n", "study.csv: line 1: missing column video"),
    ("participant,video\nP1,a.mp4\nP1,b.mp4\n", "stimulus,onset,offset\nA,0,1\n",
     "study.csv: line 3: participant 'P1' is already on line 2"),
    ("participant,video\nP1,a.mp4\n", "stimulus,onset,offset\nA,0,1\nB,2,2\n",
     "markers.csv: line 3: offset 2 must be after onset 2"),
    ("participant,video\nP1,a.mp4\n", "participant,stimulus,onset,offset\nP9,A,0,1\n",
     "markers.csv: line 2: participant 'P9' is not in the study"),
    ("participant,video\nP1,a.mp4\n", "stimulus,onset\nA,0\n", "markers.csv: line 1: missing column offset"),
    ("participant,video,label\nP1,a.mp4,x\n", "stimulus,onset,offset\nA,0,1\n",
     "study.csv: line 1: covariate column 'label' has the name of a column"),
    ("participant,video,neutral_seconds\nP1,a.mp4,soon\n", "stimulus,onset,offset\nA,0,1\n",
     "study.csv: line 2: neutral_seconds 'soon' is not a number"),
])
def test_bad_design_files_name_the_file_and_line(tmp_path, capsys, study_text, markers_text, message):
    (tmp_path / "study.csv").write_text(study_text)
    (tmp_path / "markers.csv").write_text(markers_text)
    with pytest.raises(StudyError, match=message.replace("(", r"\(")):
        read_design(tmp_path / "study.csv", tmp_path / "markers.csv")
    code = main(["study", "run", str(tmp_path / "study.csv"), "--markers", str(tmp_path / "markers.csv"),
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err


def test_the_participant_is_the_longest_track_and_the_tracks_that_continue_it():
    from fer_core.study.epochs import main_people

    def track(person: int, frames: range, width: int) -> list[dict]:
        return [{"frame": f, "person": person, "w": width} for f in frames]

    rows = pd.DataFrame(track(1, range(0, 10), 100)  # the participant
                        + track(2, range(12, 16), 90)  # back after leaving the view: a new ID
                        + track(3, range(3, 6), 100)  # someone beside them
                        + track(4, range(16, 18), 30)  # a small face in the background while they are away
                        + [{"frame": 11, "person": None, "w": 95}])  # not yet tracked
    assert main_people(rows) == {1, 2}
    assert main_people(rows[rows["person"].isna()]) == set()


def test_the_derived_indices_follow_their_formulas():
    from fer_core.reports.indices import with_indices

    scores = pd.DataFrame({"Angry": [0.1, 0.0], "Disgust": [0.05, 0.0], "Fear": [0.2, 0.0], "Happy": [0.3, 0.9],
                           "Sad": [0.15, 0.05], "Surprise": [0.1, 0.0], "Neutral": [0.1, 0.05]})
    out = with_indices(scores)
    assert out["expressiveness"].tolist() == pytest.approx([0.9, 0.95])
    assert out["valence_index"].tolist() == pytest.approx([0.3 - 0.2, 0.9 - 0.05])
