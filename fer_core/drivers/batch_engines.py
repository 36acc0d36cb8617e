"""The two ways a batch runs :func:`analyse_file` over its files: ``local`` (this process) and ``ray`` (Ray Data)."""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from fer_core.common.paths import ROOT_DIR
from fer_core.drivers.batch_inputs import is_video
from fer_core.drivers.batch_sink import BatchError, ResultsFile, error_row, results_identity, to_table
from fer_core.inference.baseline_file import baseline_from_dict
from fer_core.inference.neutral_baseline import NeutralBaseline
from fer_core.inference.classifier import Classifier
from fer_core.inference.detect import DEFAULT_DETECTOR, FaceDetector, make_detector
from fer_core.inference.infer import analyse_files
from fer_core.inference.rows import no_face_row
from fer_core.drivers.video import analyse_video

log = logging.getLogger(__name__)

#: the ``--engine`` choices: :func:`run_local` and :func:`run_ray`
ENGINES = ("local", "ray")
#: ``progress(files_done, files_total)``
Progress = Callable[[int, int], None]


def load_worker(model: str | os.PathLike | None, threads: int | None = None) -> tuple[Classifier, FaceDetector]:
    """The classifier and the photo/video detector one worker needs (loaded once, used for every file)."""
    return Classifier.load(model, threads=threads), make_detector(DEFAULT_DETECTOR)


def analyse_file(path: str, classifier: Classifier, detector: FaceDetector, *, every: int = 1,
                 baseline: NeutralBaseline | None = None) -> list[dict]:
    """The rows of one file (see :mod:`fer_core.drivers.batch`); a file that fails gives one error row, never an exception.

    Photos go through :func:`fer_core.inference.infer.analyse_files`, videos through
    :func:`fer_core.drivers.video.analyse_video` with ``every``: the same code as ``predict`` and the app.
    With a ``baseline`` every face is read against that person's neutral face.
    """
    try:
        if is_video(path):
            result = analyse_video(path, classifier, detector, every=every, name=path, baseline=baseline)
            if result.warning:
                log.warning("%s: %s", path, result.warning)
            return [{"file": path, **row} for row in result.rows()]
        [image] = analyse_files([path], classifier, detector, baseline=baseline)
        if image.error:
            return [error_row(path, image.error)]
        return image.rows() or [no_face_row(classifier.labels, file=path, face=None)]
    except (ValueError, OSError) as exc:  # ImageError, VideoError, an unreadable file
        return [error_row(path, str(exc))]
    except Exception as exc:  # noqa: BLE001 -- one odd file must not stop a job of thousands
        log.debug("%s failed", path, exc_info=True)
        return [error_row(path, f"{path}: unexpected {type(exc).__name__}: {exc}")]


def run_local(files: Sequence[str], results: ResultsFile, *, model: str | os.PathLike | None, every: int,
              progress: Progress | None = None, baseline: NeutralBaseline | None = None) -> None:
    """Analyse ``files`` in this process, one after another (the model uses every core)."""
    classifier, detector = load_worker(model)
    for done, path in enumerate(files, 1):
        results.add(to_table(analyse_file(path, classifier, detector, every=every, baseline=baseline),
                             classifier.labels, results_identity(classifier.name, baseline)))
        if progress:
            progress(done, len(files))


class RayWorker:
    """A Ray Data actor: loads the model and the detector once, then turns batches of paths into rows.

    One LiteRT thread per actor (as ``FER_THREADS=1`` would give): the pool has an actor per CPU,
    and more threads would only make the actors take turns on the cores.
    """

    def __init__(self, model: str, every: int, threads: int = 1, baseline: dict | None = None) -> None:
        self.classifier, self.detector = load_worker(model, threads=threads)
        self.every = every
        self.baseline = None if baseline is None else baseline_from_dict(baseline)

    def __call__(self, batch: dict[str, np.ndarray]):
        rows = [row for path in batch["file"].tolist()
                for row in analyse_file(path, self.classifier, self.detector, every=self.every, baseline=self.baseline)]
        return to_table(rows, self.classifier.labels, results_identity(self.classifier.name, self.baseline))


def start_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Join the cluster at ``address``, or start a local Ray with ``num_cpus`` (default: this machine's).

    A local Ray's workers find ``fer_core`` through ``PYTHONPATH`` (the checkout need not be
    installed); the nodes of a cluster need ``fer_core``, the model and the inputs at the same paths.
    """
    import ray

    if address:
        ray.init(address=address, logging_level=logging.WARNING)
        return
    root = str(ROOT_DIR)
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    ray.init(num_cpus=num_cpus or len(os.sched_getaffinity(0)), include_dashboard=False,
             logging_level=logging.WARNING, runtime_env={"env_vars": {"PYTHONPATH": path}})


def run_ray(files: Sequence[str], results: ResultsFile, *, model: str | os.PathLike | None, every: int,
            address: str | None = None, progress: Progress | None = None,
            baseline: NeutralBaseline | None = None) -> None:
    """Analyse ``files`` with Ray Data: the paths go to a pool of :class:`RayWorker` actors, one per CPU.

    Uses the Ray this process is already connected to, else starts one (:func:`start_ray`) and
    shuts it down at the end. Files go one per call (``batch_size=1``), so a long video does not
    hold up a batch of photos behind it.
    """
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise BatchError('--engine ray needs Ray Data: pip install "fer-studio[batch]" '
                         "(or requirements-dev.txt); --engine local needs nothing more") from exc
    from fer_core.catalog.model import default_model_dir

    started = not ray.is_initialized()
    if started:
        start_ray(address)
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False  # ours is the one progress line
        cpus = int(ray.cluster_resources().get("CPU", 1))
        pool = max(1, min(cpus, len(files)))
        model_dir = str(Path(model or default_model_dir()).resolve())
        dataset = ray.data.from_items([{"file": path} for path in files]).map_batches(
            RayWorker, batch_size=1, compute=ray.data.ActorPoolStrategy(size=pool), num_cpus=1,
            fn_constructor_kwargs={"model": model_dir, "every": every,
                                   "baseline": None if baseline is None else baseline.to_dict()},
        )
        done: set[str] = set()
        for table in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
            results.add(table)
            done.update(table["file"].to_pylist())
            if progress:
                progress(len(done), len(files))
    finally:
        if started:
            ray.shutdown()

