"""Saving and loading models: ``model.keras`` plus ``metadata.json`` in one folder.

The metadata carries everything inference needs (labels in order, input spec, default
test-time augmentation) and everything a reader needs to trust the numbers (architecture,
training configuration, data hash, history, metrics). Loading refuses a folder whose
metadata is missing or disagrees with the network, and runs Keras in safe mode.

An *ensemble* is a model folder with only ``metadata.json``: its architecture names member
model folders (relative to it), and loading builds one network that averages their
probabilities. Members' weights are not copied, so each is stored once.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fer_core.catalog.input_spec import InputSpec
from fer_core.common.paths import ROOT_DIR

MODEL_FILE = "model.keras"
TFLITE_FILE = "model.tflite"
#: The full-integer twin of ``model.tflite`` (int8 inside, float input and output), kept only if it
#: passed the accuracy gates against its float twin (``runtimes.litert_int8`` in the metadata).
INT8_FILE = "model.int8.tflite"
#: The network precisions LiteRT can run: int8 where a member has an accepted integer file (default), else float32.
PRECISIONS = ("int8", "float32")
DEFAULT_PRECISION = "int8"
#: The environment variable that asks for a precision (the CLI's ``--precision`` wins over it; ``batch`` passes it to its workers).
PRECISION_ENV = "FER_PRECISION"
METADATA_FILE = "metadata.json"
FORMAT_VERSION = 1
REQUIRED_KEYS = ("format_version", "name", "labels", "input_spec", "architecture")
#: The environment variables that move the model folders, the default model and the live model.
MODELS_DIR_ENV, MODEL_ENV, LIVE_MODEL_ENV = "FER_MODELS_DIR", "FER_MODEL", "FER_LIVE_MODEL"
#: Where the bundled models live (the checkout's models/).
BUNDLED_MODELS_DIR = ROOT_DIR / "models"
#: ``$FER_MODELS_DIR`` (a folder of models *added* to the bundled ones) when set at start-up, else the bundled folder.
MODELS_DIR = Path(os.environ.get(MODELS_DIR_ENV) or BUNDLED_MODELS_DIR)
DEFAULT_MODEL_NAME = "mix3c"
#: The fast path's model (live webcam, video analysis): a distilled student on LiteRT.
LIVE_MODEL_NAME = "student16"
#: test-time augmentations, in the order ties are broken (cheaper first): the plain face; it and its
#: mirror (2 views); ten crops (10); the face and 4 small shifts, each also mirrored (10)
TTA_MODES = ("none", "flip", "tencrop", "shift")
ENSEMBLE = "ensemble"
#: Gaussian blur of the input (sigma, input pixels) of a model whose metadata names none: no blur.
DEFAULT_INPUT_BLUR_SIGMA = 0.0
#: What ``metadata.json`` called ``inference.input_blur_sigma`` before it had that name (still read).
_OLD_INPUT_BLUR_KEY = "smoothing"


class ModelError(ValueError):
    """A model folder that cannot be used, with a message that says why."""


def save_model(model: Any, folder: str | os.PathLike, metadata: dict) -> Path:
    """Write ``model.keras`` and ``metadata.json`` into ``folder`` (created if needed)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # new weights: any LiteRT export of the old ones is void (``python -m fer_core export`` makes a new one)
    full = {"format_version": FORMAT_VERSION, **{k: v for k, v in metadata.items() if k != "runtimes"}}
    _check_metadata(full, folder)
    (folder / TFLITE_FILE).unlink(missing_ok=True)
    (folder / INT8_FILE).unlink(missing_ok=True)
    model.save(folder / MODEL_FILE)
    write_metadata(folder, full)
    return folder


def write_metadata(folder: str | os.PathLike, metadata: dict) -> None:
    """Replace a model's metadata atomically (so a crash never leaves half a file)."""
    path = Path(folder) / METADATA_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(metadata, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


def read_metadata(folder: str | os.PathLike) -> dict:
    """A model folder's metadata, checked for the keys inference relies on."""
    folder = Path(folder)
    path = folder / METADATA_FILE
    if not path.is_file():
        raise ModelError(f"{folder}: no {METADATA_FILE}; a model folder holds {MODEL_FILE} and {METADATA_FILE}")
    try:
        metadata = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}: not valid JSON ({exc})") from exc
    _check_metadata(metadata, folder)
    return metadata


def _check_metadata(metadata: dict, folder: Path) -> None:
    """Check the keys and types inference and the app rely on, so a hand-edited file fails here
    with one clear line rather than later with a traceback (``architecture: []`` on the Home page)."""
    if not isinstance(metadata, dict):
        raise ModelError(f"{folder}: {METADATA_FILE} must hold a JSON object, not {type(metadata).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in metadata]
    if missing:
        raise ModelError(f"{folder}: metadata lacks {', '.join(missing)}")
    if not isinstance(metadata["name"], str) or not metadata["name"]:
        raise ModelError(f"{folder}: metadata 'name' must be a non-empty string, not {metadata['name']!r}")
    labels = metadata["labels"]
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise ModelError(f"{folder}: metadata 'labels' must be a non-empty list of names")
    if len(set(labels)) != len(labels):
        raise ModelError(f"{folder}: metadata 'labels' has duplicates: {labels}")
    if not isinstance(metadata["input_spec"], dict):
        raise ModelError(f"{folder}: metadata 'input_spec' must be an object such as "
                         f"{{\"size\": 48, \"channels\": 1}}, not {type(metadata['input_spec']).__name__}")
    try:
        InputSpec.from_dict(metadata["input_spec"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{folder}: metadata 'input_spec' is invalid ({exc})") from exc
    architecture = metadata["architecture"]
    if not isinstance(architecture, dict) or not isinstance(architecture.get("name"), str):
        raise ModelError(f"{folder}: metadata 'architecture' must be an object with a string 'name' "
                         f"(e.g. {{\"name\": \"vgg\"}}), not {architecture!r}")
    params = architecture.get("params")
    if params is not None and (isinstance(params, bool) or not isinstance(params, int) or params < 0):
        raise ModelError(f"{folder}: metadata architecture.params must be a whole number of parameters, not {params!r}")
    inference = metadata.get("inference", {})
    if not isinstance(inference, dict):
        raise ModelError(f"{folder}: metadata 'inference' must be an object such as {{\"tta\": \"none\"}}, not {inference!r}")
    tta = inference.get("tta", "none")
    if tta not in TTA_MODES:
        raise ModelError(f"{folder}: metadata inference.tta {tta!r} is not one of {', '.join(TTA_MODES)}")


def input_blur_sigma(metadata: dict) -> float:
    """The input blur a model runs with by default: ``inference.input_blur_sigma``, or the old
    ``inference.smoothing`` of folders written before the rename, or none."""
    inference = metadata.get("inference") or {}
    return float(inference.get("input_blur_sigma", inference.get(_OLD_INPUT_BLUR_KEY, DEFAULT_INPUT_BLUR_SIGMA)))


def stored_temperature(metadata: dict, tta: str, precision: str = DEFAULT_PRECISION) -> float:
    """The confidence temperature fitted on PublicTest for this precision and TTA (1.0: none stored).

    ``inference.temperature`` is ``{precision: {tta: T}}`` (``python -m fer_core fit-temperature``
    writes it); a plain number, or a precision's plain number, applies to every TTA. A TTA that was
    not fitted falls back to the model's default TTA's temperature, a precision not fitted to float32's:
    closer than none at all (refit with ``fit-temperature``).
    """
    stored = (metadata.get("inference") or {}).get("temperature")
    if isinstance(stored, dict):
        stored = stored.get(precision, stored.get("float32"))
    if isinstance(stored, dict):
        default_tta = (metadata.get("inference") or {}).get("tta", "none")
        stored = stored.get(tta, stored.get(default_tta))
    try:
        value = float(stored) if stored is not None else 1.0
    except (TypeError, ValueError):
        return 1.0
    return value if 0.05 <= value <= 20 else 1.0


def load_keras_model(folder: str | os.PathLike) -> tuple[Any, dict]:
    """Load ``model.keras`` (safe mode, not compiled), or build an ensemble, and check it against its metadata."""
    from fer_core.common.quiet import TENSORFLOW_HINT, import_tensorflow_quietly, missing_tensorflow

    try:
        import_tensorflow_quietly()  # its start-up notices would bury a CLI's one-line errors
        import keras
    except ModuleNotFoundError as exc:
        if not missing_tensorflow(exc):
            raise
        raise ModelError(f"{folder}: running {MODEL_FILE} needs TensorFlow, which this install leaves out (models with an "
                         f"up-to-date {TFLITE_FILE} run without it, on LiteRT); {TENSORFLOW_HINT}") from None

    folder = Path(folder)
    metadata = read_metadata(folder)
    if is_ensemble(metadata):
        return _load_ensemble(folder, metadata), metadata
    path = folder / MODEL_FILE
    if not path.is_file():
        raise ModelError(f"{folder}: no {MODEL_FILE} beside {METADATA_FILE}")
    try:
        model = keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for a bad archive
        raise ModelError(f"{path}: cannot be loaded as a Keras model ({exc})") from exc
    spec = InputSpec.from_dict(metadata["input_spec"])
    if tuple(model.input_shape[1:]) != spec.shape:
        raise ModelError(f"{folder}: network input {model.input_shape[1:]} != metadata input_spec {spec.shape}")
    if model.output_shape[-1] != len(metadata["labels"]):
        raise ModelError(
            f"{folder}: network has {model.output_shape[-1]} outputs but metadata lists "
            f"{len(metadata['labels'])} labels"
        )
    return model, metadata


def is_ensemble(metadata: dict) -> bool:
    """Whether metadata describes an ensemble (members' probabilities averaged)."""
    architecture = metadata.get("architecture")
    return isinstance(architecture, dict) and architecture.get("name") == ENSEMBLE


def member_dirs(folder: str | os.PathLike, metadata: dict | None = None) -> list[Path]:
    """The member model folders of an ensemble (``[folder]`` for a single model)."""
    folder = Path(folder)
    metadata = read_metadata(folder) if metadata is None else metadata
    if not is_ensemble(metadata):
        return [folder]
    members = metadata["architecture"].get("members")
    if not isinstance(members, list) or len(members) < 2 or not all(isinstance(m, str) for m in members):
        raise ModelError(f"{folder}: an ensemble's architecture.members must list at least two model folders")
    return [Path(os.path.normpath(folder / member)) for member in members]


def weight_files(folder: str | os.PathLike) -> list[Path]:
    """The ``model.keras`` files a model folder loads (its members' for an ensemble)."""
    return [member / MODEL_FILE for member in member_dirs(folder)]


def requested_precision(precision: str | None = None) -> str:
    """The precision to run: ``precision`` if given, else ``$FER_PRECISION``, else int8.

    Raises:
        ModelError: a precision that is not one of :data:`PRECISIONS` (naming where it came from).
    """
    source = "precision"
    if precision is None:
        precision, source = os.environ.get(PRECISION_ENV, "").strip() or DEFAULT_PRECISION, f"${PRECISION_ENV}"
    if precision not in PRECISIONS:
        raise ModelError(f"{source} {precision!r}: expected one of {', '.join(PRECISIONS)}")
    return precision


def litert_files(folder: str | os.PathLike, metadata: dict | None = None, *, required: bool = False,
                 precision: str = "float32") -> list[Path]:
    """The LiteRT files to run (one per member), or [] when any member lacks an up-to-date ``model.tflite``.

    A ``.tflite`` counts only if the metadata records it as exported from the ``model.keras``
    beside it (same sha256), so a retrained model never runs an old export. With ``precision``
    int8, a member runs its ``model.int8.tflite`` where the metadata records it as accepted by the
    gates and made from the same ``model.keras``, and its float file otherwise.
    ``required`` raises :class:`ModelError` saying what is missing instead of returning [].
    """
    from fer_core.common.hashing import file_sha256

    folder = Path(folder)
    metadata = read_metadata(folder) if metadata is None else metadata
    files = []
    for member in member_dirs(folder, metadata):
        if member != folder and not (member / METADATA_FILE).is_file():
            raise ModelError(f"{folder}: ensemble member {member} is not a model folder")
        member_meta = metadata if member == folder else read_metadata(member)
        runtimes = member_meta.get("runtimes", {})
        record = runtimes.get("litert", {})
        path, weights = member / TFLITE_FILE, member / MODEL_FILE
        keras_sha = file_sha256(weights) if weights.is_file() else None
        problem = None
        if not path.is_file() or not record:
            problem = f"{member}: no {TFLITE_FILE}; run `python -m fer_core export {member}`"
        elif keras_sha and record.get("keras_sha256") != keras_sha:
            problem = f"{member}: {TFLITE_FILE} is older than {MODEL_FILE}; run `python -m fer_core export {member}` again"
        if problem:
            if required:
                raise ModelError(problem)
            return []
        integer = runtimes.get("litert_int8", {})
        if (precision == "int8" and integer.get("accepted") and (member / INT8_FILE).is_file()
                and (keras_sha is None or integer.get("keras_sha256") == keras_sha)):
            path = member / INT8_FILE
        files.append(path)
    return files


def file_precision(path: str | os.PathLike) -> str:
    """The precision of a LiteRT file this catalogue names: int8 for :data:`INT8_FILE`, else float32."""
    return "int8" if Path(path).name == INT8_FILE else "float32"


def load_members(folder: str | os.PathLike, metadata: dict | None = None) -> list[tuple[Path, Any, dict]]:
    """Each member's folder, Keras model and metadata (the model itself when it is not an ensemble).

    Members are checked to share the ensemble's labels and input, so every path that rebuilds or
    averages them (loading, the bfloat16 teacher) relies on the same checks.
    """
    folder = Path(folder)
    metadata = read_metadata(folder) if metadata is None else metadata
    if not is_ensemble(metadata):
        model, metadata = load_keras_model(folder)
        return [(folder, model, metadata)]
    spec = InputSpec.from_dict(metadata["input_spec"])
    members = []
    for member_dir in member_dirs(folder, metadata):
        if not (member_dir / METADATA_FILE).is_file():
            raise ModelError(f"{folder}: ensemble member {member_dir} is not a model folder")
        member, member_meta = load_keras_model(member_dir)
        if is_ensemble(member_meta):
            raise ModelError(f"{folder}: member {member_dir.name} is itself an ensemble; list its members instead")
        if member_meta["labels"] != metadata["labels"]:
            raise ModelError(f"{folder}: member {member_dir.name} has labels {member_meta['labels']}, "
                             f"the ensemble {metadata['labels']}")
        if InputSpec.from_dict(member_meta["input_spec"]) != spec:
            raise ModelError(f"{folder}: member {member_dir.name} expects input {member_meta['input_spec']}, "
                             f"the ensemble {metadata['input_spec']}")
        members.append((member_dir, member, member_meta))
    return members


def _load_ensemble(folder: Path, metadata: dict) -> Any:
    """One Keras model averaging the members' probabilities, checked to share labels and input."""
    members = load_members(folder, metadata)
    return average_members([model for _, model, _ in members], [member_dir for member_dir, _, _ in members],
                           InputSpec.from_dict(metadata["input_spec"]), metadata["name"])


def average_members(members: list, folders: list[Path], spec: InputSpec, name: str) -> Any:
    """One Keras model averaging the members' probabilities (the ensemble's network)."""
    import keras

    # a fresh wrapper per member: unique names even when two members share a name
    wrapped = [keras.Model(member.inputs[0], member.outputs[0], name=f"member{index}_{folder.name}")
               for index, (member, folder) in enumerate(zip(members, folders))]
    inputs = keras.Input(shape=spec.shape, name="face")
    outputs = keras.layers.Average(name="mean_probabilities")([member(inputs) for member in wrapped])
    return keras.Model(inputs, outputs, name=name)


def read_selection(path: str | os.PathLike) -> dict[str, Any]:
    """How an ensemble's members were chosen: the JSON ``scripts/compare_ensembles.py --json`` writes.

    Members are chosen on PublicTest only (PrivateTest is the reported test set), so a table
    from another split is refused rather than stored.
    """
    try:
        selection = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"--selection {path}: cannot read it as JSON ({exc})") from exc
    if not isinstance(selection, dict) or not {"split", "command", "accuracy"} <= selection.keys():
        raise ModelError(f"--selection {path}: expected the split, command and accuracy that "
                         "scripts/compare_ensembles.py --json writes")
    if selection["split"] != "PublicTest":
        raise ModelError(f"--selection {path}: members were compared on {selection['split']}; "
                         "they must be chosen on PublicTest (PrivateTest is the test set)")
    return selection


def create_ensemble(folder: str | os.PathLike, members: list[str | os.PathLike], name: str | None = None,
                    selection: dict[str, Any] | None = None) -> Path:
    """Write an ensemble's ``metadata.json`` (members stored relative to it) and check that it loads.

    The members must share labels and input spec; their training summaries are copied so the
    ensemble's card says what went into it. Its TTA starts at "none": ``select-tta`` chooses it.
    ``selection`` (see :func:`read_selection`) records how the members were chosen.
    """
    folder = Path(folder)
    member_paths = [Path(m) for m in members]
    if len(member_paths) < 2:
        raise ModelError("an ensemble needs at least two member models")
    metas = [read_metadata(m) for m in member_paths]
    first = metas[0]
    trainings = [meta.get("training", {}) for meta in metas]
    metadata = {
        "format_version": FORMAT_VERSION,
        "name": name or folder.name,
        "labels": first["labels"],
        "input_spec": first["input_spec"],
        "architecture": {
            "name": ENSEMBLE,
            "members": [os.path.relpath(m.resolve(), folder.resolve()) for m in member_paths],
            "member_names": [meta["name"] for meta in metas],
            "params": sum(int(meta["architecture"].get("params") or 0) for meta in metas) or None,
        },
        "inference": {"tta": "none"},
        "training": {
            "command": " ; ".join(t.get("command", "?") for t in trainings),
            "epochs_run": sum(int(t.get("epochs_run") or 0) for t in trainings),
            "wall_time_s": round(sum(float(t.get("wall_time_s") or 0) for t in trainings), 1),
            "hardware": first.get("training", {}).get("hardware", "?"),
            "framework": first.get("training", {}).get("framework", "?"),
            "members": {meta["name"]: t for meta, t in zip(metas, trainings)},
        },
        "data": first.get("data", {}),
    }
    if selection is not None:
        metadata["architecture"]["selection"] = selection
    _check_metadata(metadata, folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_metadata(folder, metadata)
    try:
        load_keras_model(folder)
    except ModelError:
        (folder / METADATA_FILE).unlink()
        raise
    return folder


def model_roots() -> list[Path]:
    """The folders models are listed from: the bundled models/, then ``$FER_MODELS_DIR`` (which adds to
    them, read at each call). A root that does not exist is left out (an installed wheel has no models/)."""
    roots = [BUNDLED_MODELS_DIR]
    extra = os.environ.get(MODELS_DIR_ENV)
    if extra and Path(extra).resolve() != BUNDLED_MODELS_DIR.resolve():
        roots.append(Path(extra))
    return [root for root in roots if root.is_dir()]


def list_models(root: str | os.PathLike | None = None) -> list[Path]:
    """Model folders (those with a metadata file) under ``root``, or under every :func:`model_roots`;
    the default model first."""
    roots = [Path(root)] if root is not None else model_roots()
    found = [folder for each in roots for folder in sorted(p.parent for p in each.glob(f"*/{METADATA_FILE}"))]
    return sorted(found, key=lambda p: p.name != DEFAULT_MODEL_NAME)


def _named(name: str) -> Path | None:
    """The first model folder called ``name`` in :func:`model_roots` (the bundled one before an added one)."""
    return next((root / name for root in model_roots() if (root / name / METADATA_FILE).is_file()), None)


def default_model_dir() -> Path:
    """``$FER_MODEL``, else the bundled default model (or one of that name in ``$FER_MODELS_DIR``)."""
    if os.environ.get(MODEL_ENV):
        return Path(os.environ[MODEL_ENV])
    return _named(DEFAULT_MODEL_NAME) or BUNDLED_MODELS_DIR / DEFAULT_MODEL_NAME


def live_model_dir() -> Path:
    """The fast path's model (``$FER_LIVE_MODEL``, else the bundled student, else the default model)."""
    if os.environ.get(LIVE_MODEL_ENV):
        return Path(os.environ[LIVE_MODEL_ENV])
    return _named(LIVE_MODEL_NAME) or default_model_dir()
