"""Batch analysis (``python -m fer_core batch``): inputs, rows, saves and resume, and Ray giving the local engine's rows.

Inputs are real: scikit-image's astronaut (whole, her head and shoulders, a small face in a
large frame), its coffee cup (no face), a clip of the astronaut sliding sideways then blank
frames (as tests/test_video_live.py builds it), and a file that is not an image. Ray is started
once for the module, on 2 CPUs.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from PIL import Image

from fer_core.drivers import batch_engines
from fer_core.drivers import batch_sink
from fer_core import cli
from fer_core.drivers.batch import ENGINES, BatchError, run_batch
from fer_core.drivers.batch_inputs import expand_inputs
from fer_core.drivers.batch_sink import ResultsFile, parts_dir, read_previous
from fer_core.common.labels import LABELS
from tests.conftest import true_person
from fer_core.evaluation.sample_frames import astronaut_frame as make_frame
from fer_core.evaluation.sample_frames import face_frame, head_and_shoulders

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")  # Ray's own settings

EVERY = 5
PROBABILITIES = list(LABELS)  # the bundled models' label columns
CLIP_FRAMES = 20 + 6  # the astronaut sliding sideways, then blank frames


def _clip(path: Path) -> Path:
    frame = make_frame()
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=15)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        for rgb in [np.roll(frame, 4 * i, axis=1) for i in range(20)] + [np.full_like(frame, 90)] * 6:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, astronaut) -> Path:
    """A folder tree of real photos, a clip, a broken file and a text file."""
    from skimage import data

    root = tmp_path_factory.mktemp("batch") / "shots"
    (root / "nested" / "deeper").mkdir(parents=True)
    Image.fromarray(astronaut).save(root / "astronaut.jpg", quality=92)
    Image.fromarray(head_and_shoulders()).save(root / "nested" / "deeper" / "head.png")
    Image.fromarray(face_frame(head_and_shoulders(), 0.08, 1280, 720)[0]).save(root / "nested" / "small_face.jpg")
    Image.fromarray(data.coffee()).save(root / "nested" / "coffee.png")
    (root / "nested" / "broken.jpg").write_bytes(b"these bytes are not a JPEG")
    (root / "notes.txt").write_text("not a photo: folders are searched for image and video types only")
    _clip(root / "clip.mp4")
    return root


def _read(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out, dtype_backend="numpy_nullable")


@pytest.fixture(scope="module")
def local_out(inputs, tmp_path_factory) -> Path:
    """The local engine's table of ``inputs``, made through the command line."""
    out = tmp_path_factory.mktemp("local") / "results.parquet"
    code = cli.main(["batch", str(inputs), "--out", str(out), "--every", str(EVERY)])
    assert code == 1  # the broken file
    return out


@pytest.fixture(scope="module")
def local_rows(local_out) -> pd.DataFrame:
    return _read(local_out)


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray (2 CPUs) for the module; shut down at its end."""
    import ray

    batch_engines.start_ray(num_cpus=2)
    yield ray
    ray.shutdown()


def test_folders_are_searched_recursively_and_globs_expand(inputs):
    files, unmatched = expand_inputs([str(inputs / "nested"), str(inputs / "**" / "*.png"),
                                      str(inputs / "clip.mp4"), str(inputs / "none*.jpg")])
    names = [Path(f).relative_to(inputs).as_posix() for f in files]
    # the folder's files (sorted, any depth, no .txt), then the glob's new match, then the file; each once
    assert names == ["nested/broken.jpg", "nested/coffee.png", "nested/deeper/head.png", "nested/small_face.jpg",
                     "clip.mp4"]
    assert unmatched == [str(inputs / "none*.jpg")]
    assert all(Path(f).is_absolute() for f in files)


def test_rows_of_photos_videos_no_face_and_errors(inputs, local_out, local_rows):
    rows = local_rows
    assert list(rows.columns) == ["file", "frame", "time_s", "face", "person", "label", "confidence", "vs_neutral",
                                  "x", "y", "w", "h", "face_px", "detector_score", "quality", *PROBABILITIES, "error"]
    by_file = {Path(f).relative_to(inputs).as_posix(): group for f, group in rows.groupby("file", sort=False)}
    assert list(by_file) == ["astronaut.jpg", "clip.mp4", "nested/broken.jpg", "nested/coffee.png",
                             "nested/deeper/head.png", "nested/small_face.jpg"]  # input order: sorted paths
    for photo in ("astronaut.jpg", "nested/deeper/head.png", "nested/small_face.jpg"):
        face = by_file[photo]
        assert len(face) == 1 and face["face"].tolist() == [1] and face["label"].tolist() == ["Happy"], photo
        assert face["person"].tolist() == [1], photo  # in a photo, each face is its own person
        assert face["frame"].isna().all() and face["time_s"].isna().all() and face["error"].isna().all()
    no_face = by_file["nested/coffee.png"]
    assert no_face["label"].tolist() == ["No face"] and no_face["face"].isna().all() and no_face["error"].isna().all()
    assert no_face["person"].isna().all()
    broken = by_file["nested/broken.jpg"]
    assert len(broken) == 1 and "not an image file" in broken["error"].iloc[0]
    assert broken.drop(columns=["file", "error"]).isna().all(axis=None)
    clip = by_file["clip.mp4"]
    assert clip["frame"].tolist() == list(range(0, CLIP_FRAMES, EVERY))  # every 5th frame, one face or none each
    assert clip["time_s"].tolist() == pytest.approx([f / 15 for f in range(0, CLIP_FRAMES, EVERY)], abs=1e-3)
    assert clip["label"].tolist()[:4] == ["Happy"] * 4 and clip["label"].tolist()[-2:] == ["No face"] * 2
    assert clip["face"].tolist()[:4] == [1] * 4  # faces count from 1 in photos and videos alike
    assert clip["person"].tolist()[:4] == [1] * 4 and clip["person"].isna().tolist()[-2:] == [True, True]
    assert pq.read_schema(local_out).field("person").type == pa.int64()
    schema = pq.read_schema(local_out)  # whole numbers stay whole in the file, empty or not
    assert schema.field("frame").type == pa.int64() and schema.field("x").type == pa.int64()


def test_ray_gives_the_local_rows(inputs, local_rows, local_ray, monkeypatch, tmp_path):
    monkeypatch.setattr(batch_sink, "SAVE_EVERY_S", 0.0)  # a part file per batch of rows, merged at the end
    out = tmp_path / "ray.parquet"
    summary = run_batch([str(inputs)], out, engine="ray", every=EVERY)
    assert local_ray.is_initialized()  # the module's Ray was used, not started and stopped again
    assert summary.analysed == 6 and summary.errors == 1
    assert not parts_dir(out).exists()
    rows = _read(out)
    exact = [c for c in rows.columns if c not in ("confidence", *PROBABILITIES)]  # files, frames, labels, boxes, errors
    pd.testing.assert_frame_equal(rows[exact], local_rows[exact])
    for column in ("confidence", *PROBABILITIES):
        np.testing.assert_allclose(rows[column].to_numpy(float, na_value=np.nan),
                                   local_rows[column].to_numpy(float, na_value=np.nan), atol=1e-5, err_msg=column)


def test_two_people_keep_their_ids_with_either_engine(tracking_clips, local_ray, tmp_path):
    """The clip whose two faces' sizes cross over: each person keeps one ID from start to end, and each
    video being one task, Ray gives the local engine's IDs."""
    path, truths = tracking_clips["crossing"]
    tables = {}
    for engine in ENGINES:
        out = tmp_path / f"{engine}.parquet"
        assert cli.main(["batch", str(path), "--out", str(out), "--engine", engine]) == 0
        tables[engine] = _read(out)
    local, ray = tables["local"], tables["ray"]
    assert local["person"].tolist() == ray["person"].tolist() and len(local) == 2 * len(range(0, len(truths), 5))
    people: dict[int, set] = {}
    for row in local.to_dict("records"):
        people.setdefault(true_person(row, truths[row["frame"]]), set()).add(row["person"])
    assert sorted(people.values(), key=min) == [{1}, {2}]
    assert all(sorted(faces) == [1, 2] for _, faces in local.groupby("frame")["face"])  # both found in every frame
    assert sorted(local.loc[local["face"] == 1, "person"].unique()) == [1, 2]  # while "face 1" changes person


def test_ray_engine_without_ray_says_what_to_install(inputs, monkeypatch, tmp_path):
    """Ray is an extra (pyproject's [batch]), not in requirements.txt: its absence is one clear line."""
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed: `import ray` raises ImportError
    with pytest.raises(BatchError, match=r'pip install "fer-studio\[batch\]"'):
        run_batch([str(inputs)], tmp_path / "out.parquet", engine="ray", every=EVERY)


def test_resume_skips_files_already_done_and_retries_errors(inputs, local_rows, tmp_path):
    shots = shutil.copytree(inputs, tmp_path / "shots")
    out = tmp_path / "results.parquet"
    first = run_batch([str(shots)], out, every=EVERY)
    before = _read(out)
    assert first.analysed == 6 and len(before) == len(local_rows)
    (shots / "astronaut.jpg").write_bytes(b"broken after it was analysed")  # would now give an error row
    shutil.copy(shots / "nested" / "deeper" / "head.png", shots / "nested" / "head_again.png")
    second = run_batch([str(shots)], out, every=EVERY)
    after = _read(out)
    assert (second.skipped, second.analysed) == (5, 2)  # the new photo and the broken file, tried again
    assert len(after) == len(before) + 1  # one new face; the broken file still has its one row
    astronaut = after[after["file"] == str(shots / "astronaut.jpg")]
    assert astronaut["label"].tolist() == ["Happy"] and astronaut["error"].isna().all()
    assert after["error"].notna().sum() == 1


def test_a_stopped_job_keeps_its_rows_and_resumes(inputs, monkeypatch, tmp_path):
    monkeypatch.setattr(batch_sink, "SAVE_EVERY_S", 0.0)  # save after each file
    photos = [str(inputs / name) for name in ("astronaut.jpg", "nested/coffee.png", "nested/deeper/head.png",
                                              "nested/small_face.jpg")]
    out = tmp_path / "results.parquet"

    def stop_after_two(done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch(photos, out, progress=stop_after_two)
    assert _read(out)["file"].nunique() == 2
    assert not parts_dir(out).exists()  # Ctrl-C merged the parts into the one file
    resumed = run_batch(photos, out)
    assert (resumed.skipped, resumed.analysed) == (2, 2)
    assert _read(out)["file"].nunique() == 4
    assert not parts_dir(out).exists()


def test_resume_refuses_another_models_table(inputs, tmp_path):
    out = tmp_path / "results.parquet"
    pq.write_table(batch_sink.to_table([{"file": "x.jpg", "label": "No face"}], LABELS, "another-model"), out)
    with pytest.raises(BatchError, match="holds the results of model 'another-model'"):
        run_batch([str(inputs / "astronaut.jpg")], out)


# ---------------------------------------------------------------- part files: saves cost their new rows only


class Killed(BaseException):
    """A kill (SIGKILL, power loss) right after a save: nothing of the run's end happens."""


def _by_file(table: pa.Table) -> dict[str, pa.Table]:
    """A table's rows, file by file, in the table's order."""
    return {name: table.filter(pc.equal(table["file"], name)) for name in dict.fromkeys(table["file"].to_pylist())}


def _parts(out: Path) -> list[Path]:
    return sorted(parts_dir(out).glob("part-*.parquet"))


def test_a_killed_job_resumes_from_its_part_files(inputs, local_out, local_rows, monkeypatch, tmp_path):
    monkeypatch.setattr(batch_sink, "SAVE_EVERY_S", 0.0)  # a part file after each file
    photos = [str(inputs / name) for name in ("astronaut.jpg", "nested/broken.jpg", "nested/coffee.png",
                                              "nested/deeper/head.png", "nested/small_face.jpg")]  # input order
    reference = _by_file(pq.read_table(local_out))  # the uninterrupted run's rows
    out = tmp_path / "results.parquet"

    def killed_after(files: int):
        def progress(done: int, total: int) -> None:
            if done == files:
                raise Killed
        return progress

    with monkeypatch.context() as kill:
        kill.setattr(ResultsFile, "finish", lambda self: None)  # killed: no merge at the end
        with pytest.raises(Killed):
            run_batch(photos, out, progress=killed_after(2))  # astronaut, broken (an error row)
        assert not out.exists() and [p.name for p in _parts(out)] == ["part-00001.parquet", "part-00002.parquet"]
        with pytest.raises(Killed):
            run_batch(photos, out, progress=killed_after(2))  # broken tried again, coffee
    parts = _parts(out)
    assert [p.name for p in parts] == [f"part-0000{i}.parquet" for i in (1, 2, 3, 4)]  # the second run went on
    for part, name in zip(parts, [photos[0], photos[1], photos[1], photos[2]]):
        table = pq.read_table(part)  # each save: the rows of the one file added since the previous save
        assert table["file"].to_pylist() == [name] * reference[name].num_rows, part.name
        assert table.schema.metadata[batch_sink.MODEL_KEY] == pq.read_schema(local_out).metadata[batch_sink.MODEL_KEY]

    resumed = run_batch(photos, out)
    assert (resumed.skipped, resumed.analysed) == (2, 3)  # astronaut and coffee done; broken retried again
    assert not parts_dir(out).exists() and not out.with_name(out.name + ".parts.merged").exists()
    expected = local_rows[local_rows["file"].isin(photos)].reset_index(drop=True)
    pd.testing.assert_frame_equal(_read(out), expected)  # as if never stopped: broken's error row once
    assert pq.read_schema(out).metadata == pq.read_schema(local_out).metadata


def test_each_save_writes_only_the_rows_added_since_the_last(local_out, monkeypatch, tmp_path):
    full = pq.read_table(local_out)
    model = full.schema.metadata[batch_sink.MODEL_KEY].decode()
    rows = _by_file(full)  # 6 files' real rows, in input order
    files = list(rows)
    out = tmp_path / "results.parquet"
    made_by = json.loads(full.schema.metadata[batch_sink.PROVENANCE_KEY])  # as the run that made ``full`` recorded
    results = ResultsFile(out, files, None, PROBABILITIES, model, made_by)
    for name, save_every in zip(files, [1e9, 1e9, 0.0, 0.0, 1e9, 1e9]):
        monkeypatch.setattr(batch_sink, "SAVE_EVERY_S", save_every)
        results.add(rows[name])
    parts = [pq.read_table(p) for p in _parts(out)]
    assert [len(p) for p in parts] == [sum(len(rows[f]) for f in files[:3]), len(rows[files[3]])]
    assert [set(p["file"].to_pylist()) for p in parts] == [set(files[:3]), {files[3]}]
    assert not out.exists()

    # killed now: a resume reads the saved files' rows from the parts, the unsaved ones are analysed again
    previous = read_previous(out, PROBABILITIES, model)
    assert previous.equals(full.filter(pc.is_in(full["file"], pa.array(files[:4]))))
    assert batch_sink.done_files(previous) == set(files[:4]) - {f for f in files if "broken" in f}

    results.finish()  # the end: one file with every row, the parts gone
    assert pq.read_table(out).equals(full) and pq.read_schema(out).metadata == full.schema.metadata
    assert not parts_dir(out).exists()


def test_a_kill_between_the_merge_and_deleting_the_parts_loses_nothing(local_out, monkeypatch, tmp_path):
    full = pq.read_table(local_out)
    model = full.schema.metadata[batch_sink.MODEL_KEY].decode()
    astronaut = _by_file(full)[full["file"][0].as_py()]
    name = astronaut["file"][0].as_py()
    out = tmp_path / "results.parquet"
    monkeypatch.setattr(batch_sink, "SAVE_EVERY_S", 0.0)
    failed = ResultsFile(out, [name], None, PROBABILITIES, model)
    failed.add(batch_sink.to_table([batch_sink.error_row(name, "unreadable then")], PROBABILITIES, model))  # part 1; killed

    monkeypatch.setattr(batch_sink, "SAVE_EVERY_S", 1e9)
    previous = read_previous(out, PROBABILITIES, model)
    assert batch_sink.done_files(previous) == set() and previous["error"].to_pylist() == ["unreadable then"]
    retry = ResultsFile(out, [name], previous, PROBABILITIES, model)
    retry.add(astronaut)  # not saved as a part yet
    monkeypatch.setattr(ResultsFile, "_remove_parts", lambda self: None)  # killed right after the merge
    retry.finish()
    assert pq.read_table(out).equals(astronaut)
    assert read_previous(out, PROBABILITIES, model).equals(astronaut)  # the old part's error row is not back
    assert [p.name for p in _parts(out)] == ["part-00001.parquet", "part-00002.parquet"]


def test_resume_refuses_another_models_part_files(inputs, monkeypatch, tmp_path):
    from fer_core.catalog.model import default_model_dir, read_metadata

    monkeypatch.setattr(batch_sink, "SAVE_EVERY_S", 0.0)
    photo = str(inputs / "astronaut.jpg")
    out = tmp_path / "results.parquet"
    ResultsFile(out, [photo], None, LABELS, "another-model").add(
        batch_sink.to_table([{"file": photo, "label": "No face"}], LABELS, "another-model"))  # a killed run's part
    with pytest.raises(BatchError, match=r"part file .*part-00001.parquet: holds the results of model 'another-model'"):
        run_batch([photo], out)
    this_model = read_metadata(default_model_dir())["name"]
    pq.write_table(batch_sink.to_table([{"file": "x.jpg", "label": "No face"}], LABELS, this_model), out)
    with pytest.raises(BatchError, match="part file .*: holds the results of model 'another-model'"):
        run_batch([photo], out)  # a fitting table does not make its parts fit
    assert len(_parts(out)) == 1  # refused: nothing written, nothing deleted

    shutil.rmtree(parts_dir(out))
    parts_dir(out).write_text("not a folder of part files")
    with pytest.raises(BatchError, match=r"results.parquet.parts is not a folder"):
        run_batch([photo], out)
