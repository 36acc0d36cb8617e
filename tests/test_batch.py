"""Batch analysis (``python -m fer_core batch``): inputs, rows, resume, and Ray giving the local engine's rows.

Inputs are real: scikit-image's astronaut (whole, her head and shoulders, a small face in a
large frame), its coffee cup (no face), a clip of the astronaut sliding sideways then blank
frames (as tests/test_video_live.py builds it), and a file that is not an image. Ray is started
once for the module, on 2 CPUs.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from fer_core import batch, cli
from fer_core.batch import BatchError, expand_inputs, run_batch
from fer_core.bench import test_frame as make_frame
from fer_core.face_frames import face_frame, head_and_shoulders
from fer_core.labels import LABELS

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

    batch.start_ray(num_cpus=2)
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
    assert list(rows.columns) == ["file", "frame", "time_s", "face", "label", "confidence", "x", "y", "w", "h",
                                  *PROBABILITIES, "error"]
    by_file = {Path(f).relative_to(inputs).as_posix(): group for f, group in rows.groupby("file", sort=False)}
    assert list(by_file) == ["astronaut.jpg", "clip.mp4", "nested/broken.jpg", "nested/coffee.png",
                             "nested/deeper/head.png", "nested/small_face.jpg"]  # input order: sorted paths
    for photo in ("astronaut.jpg", "nested/deeper/head.png", "nested/small_face.jpg"):
        face = by_file[photo]
        assert len(face) == 1 and face["face"].tolist() == [1] and face["label"].tolist() == ["Happy"], photo
        assert face["frame"].isna().all() and face["time_s"].isna().all() and face["error"].isna().all()
    no_face = by_file["nested/coffee.png"]
    assert no_face["label"].tolist() == ["No face"] and no_face["face"].isna().all() and no_face["error"].isna().all()
    broken = by_file["nested/broken.jpg"]
    assert len(broken) == 1 and "not an image file" in broken["error"].iloc[0]
    assert broken.drop(columns=["file", "error"]).isna().all(axis=None)
    clip = by_file["clip.mp4"]
    assert clip["frame"].tolist() == list(range(0, CLIP_FRAMES, EVERY))  # every 5th frame, one face or none each
    assert clip["time_s"].tolist() == pytest.approx([f / 15 for f in range(0, CLIP_FRAMES, EVERY)], abs=1e-3)
    assert clip["label"].tolist()[:4] == ["Happy"] * 4 and clip["label"].tolist()[-2:] == ["No face"] * 2
    assert clip["face"].tolist()[:4] == [1] * 4  # faces count from 1 in photos and videos alike
    schema = pq.read_schema(local_out)  # whole numbers stay whole in the file, empty or not
    assert schema.field("frame").type == pa.int64() and schema.field("x").type == pa.int64()


def test_ray_gives_the_local_rows(inputs, local_rows, local_ray, tmp_path):
    out = tmp_path / "ray.parquet"
    summary = run_batch([str(inputs)], out, engine="ray", every=EVERY)
    assert local_ray.is_initialized()  # the module's Ray was used, not started and stopped again
    assert summary.analysed == 6 and summary.errors == 1
    rows = _read(out)
    exact = [c for c in rows.columns if c not in ("confidence", *PROBABILITIES)]  # files, frames, labels, boxes, errors
    pd.testing.assert_frame_equal(rows[exact], local_rows[exact])
    for column in ("confidence", *PROBABILITIES):
        np.testing.assert_allclose(rows[column].to_numpy(float, na_value=np.nan),
                                   local_rows[column].to_numpy(float, na_value=np.nan), atol=1e-5, err_msg=column)


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
    monkeypatch.setattr(batch, "SAVE_EVERY_S", 0.0)  # save after each file
    photos = [str(inputs / name) for name in ("astronaut.jpg", "nested/coffee.png", "nested/deeper/head.png",
                                              "nested/small_face.jpg")]
    out = tmp_path / "results.parquet"

    def stop_after_two(done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch(photos, out, progress=stop_after_two)
    assert _read(out)["file"].nunique() == 2
    resumed = run_batch(photos, out)
    assert (resumed.skipped, resumed.analysed) == (2, 2)
    assert _read(out)["file"].nunique() == 4


def test_resume_refuses_another_models_table(inputs, tmp_path):
    out = tmp_path / "results.parquet"
    pq.write_table(batch.to_table([{"file": "x.jpg", "label": "No face"}], LABELS, "another-model"), out)
    with pytest.raises(BatchError, match="holds the results of model 'another-model'"):
        run_batch([str(inputs / "astronaut.jpg")], out)
