"""The command line of ``python -m fer_core``: train, evaluate, select-tta, fit-temperature, ensemble, export, predict, validate, bench, batch, study, serve, app."""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from fer_core.data.fer2013 import DATA_HELP
from fer_core.catalog.model import TTA_MODES
from fer_core.inference.preprocess import INPUT_BLUR_GRID

log = logging.getLogger("fer_core")


class CliError(Exception):
    """An option value the user can fix (an output path that cannot be written, ...): one line from main()."""


def _reason(exc: OSError) -> str:
    """The OS's words for a failure ("Permission denied"), without Python's errno prefix."""
    return exc.strerror or str(exc)


def _check_output(path: str, option: str, *, folder: bool) -> None:
    """Refuse an output path that cannot be written, before the slow work that fills it.

    Nothing is created: the folders a write would make are checked through the nearest
    one that exists.
    """
    target = Path(path)
    if folder and target.exists() and not target.is_dir():
        raise CliError(f"{option} {path}: is a file, not a folder; give a folder path (it is created if missing)")
    if not folder and target.is_dir():
        raise CliError(f"{option} {path}: is a folder; give a file path, e.g. {target / 'metrics.json'}")
    parent = target if folder else target.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise CliError(f"{option} {path}: {parent} is a file, not a folder; give a path in a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CliError(f"{option} {path}: {parent} is not writable; give a path in a folder you can write to")


def _output_folder(path: str, option: str) -> Path:
    """Create an output folder before any slow work, or say why the path cannot be one."""
    _check_output(path, option, folder=True)
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"{option} {path}: cannot create this folder ({_reason(exc)}); "
                       "give a folder path you can write to") from exc
    return folder


@contextlib.contextmanager
def _writing(path: str | os.PathLike, option: str) -> Iterator[None]:
    """Turn an OS error while writing an output (disk full, a path under /proc) into one clear line."""
    try:
        yield
    except OSError as exc:
        raise CliError(f"{option} {path}: cannot write this file ({_reason(exc)}); "
                       "choose a path in a folder you can write to") from exc


def _remove_unfinished_run(out: Path) -> None:
    """Remove an output folder that this run created but never checkpointed (it failed before epoch 1).

    A folder that holds the teacher's cached targets is kept: they take long to compute and
    a retry with the same --out reuses them.
    """
    from fer_core.training.distill import TEACHER_FILE
    from fer_core.training.train import CHECKPOINT

    if out.is_dir() and not (out / CHECKPOINT).exists() and not (out / TEACHER_FILE).exists():
        shutil.rmtree(out, ignore_errors=True)


def _add_train(sub) -> None:
    from typing import get_args

    from fer_core.training.train import Augment, Optimizer, Precision, Schedule, TeacherView

    p = sub.add_parser("train", help="train a model on FER2013 (resumable)")
    p.add_argument("--data", help=DATA_HELP)
    # no default here: fer_core.training.architectures.DEFAULT_ARCH is read when training starts (it imports Keras)
    p.add_argument("--arch", help="architecture and its recipe: vgg (the compact VGG), student (distilled, fast), "
                                  "resnet (a residual ensemble member) or seed; default: fer_core.training.architectures.DEFAULT_ARCH")
    p.add_argument("--out", help="output folder (default: runs/<arch>)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--optimizer", choices=list(get_args(Optimizer)))
    p.add_argument("--learning-rate", type=float)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--schedule", choices=list(get_args(Schedule)))
    p.add_argument("--label-smoothing", type=float)
    p.add_argument("--augment", choices=list(get_args(Augment)),
                   help="training augmentation; camera adds lighting, pose, blur, noise, JPEG and glasses-like bands")
    p.add_argument("--width", type=int, help="base width of vgg and student")
    p.add_argument("--teacher", metavar="MODEL_DIR", help="distil from this model's probabilities (student default: models/mix3c)")
    p.add_argument("--teacher-tta", choices=list(TTA_MODES), help="the teacher's test-time augmentation (default tencrop)")
    p.add_argument("--teacher-view", choices=list(get_args(TeacherView)),
                   help="clean (default): the teacher labels each training image once, with its TTA; augmented: "
                        "it labels every augmented and mixed view the student sees (slower, more consistent)")
    p.add_argument("--distill-weight", type=float, help="weight of the teacher's probabilities in the target, 0-1")
    p.add_argument("--ema", type=float, help="momentum of the weights' moving average, e.g. 0.999; 0 = off")
    p.add_argument("--mixup", type=float, help="mixup's Beta alpha over images and targets, e.g. 0.2; 0 = off")
    p.add_argument("--precision", choices=list(get_args(Precision)),
                   help="training dtype policy (default float32); mixed_bfloat16 trains vgg about 1.4x faster on CPUs with AMX, "
                        "and the exported model is float32 either way")
    p.add_argument("--early-stopping", type=int, help="patience on val accuracy, 0 = off")
    p.add_argument("--class-weight", action="store_true", default=None, help="weight classes against the imbalance")
    p.add_argument("--val-split", help="split for model selection (default PublicTest)")
    p.add_argument("--limit", type=int, help="rows per split, for quick trials")
    p.add_argument("--skip-bad-rows", action="store_true", help="drop invalid rows (and say how many) instead of stopping")
    p.add_argument("--seed", type=int)
    p.add_argument("--init-from", metavar="MODEL_DIR", help="start from a trained model's weights (fine-tuning)")
    p.add_argument("--resume", action="store_true", help="continue the checkpoint in --out")


def _run_train(args) -> int:
    from fer_core.training.architectures import DEFAULT_ARCH
    from fer_core.training.train import recipe, train

    arch = args.arch or DEFAULT_ARCH
    config = recipe(
        arch, out=args.out or f"runs/{arch}", data=args.data, epochs=args.epochs,
        batch_size=args.batch_size, optimizer=args.optimizer, learning_rate=args.learning_rate,
        weight_decay=args.weight_decay, schedule=args.schedule, label_smoothing=args.label_smoothing,
        augment=args.augment, width=args.width, early_stopping=args.early_stopping,
        class_weight=args.class_weight, val_split=args.val_split, limit=args.limit, seed=args.seed,
        init_from=args.init_from, teacher=args.teacher, teacher_tta=args.teacher_tta, teacher_view=args.teacher_view,
        distill_weight=args.distill_weight, ema=args.ema, mixup=args.mixup, precision=args.precision,
    )
    out = Path(config.out)
    _check_output(config.out, "--out", folder=True)
    data = None
    if args.skip_bad_rows:
        from fer_core.data.fer2013 import load_fer2013

        data = load_fer2013(args.data, skip_bad_rows=True)
        log.warning("skipped %d bad row(s) of %s", data.skipped, data.source)
    existed = out.exists()
    try:
        train(config, resume=args.resume, data=data, command="python -m fer_core " + " ".join(sys.argv[1:]))
    except Exception:
        if not existed:
            _remove_unfinished_run(out)
        raise
    return 0


def _add_precision(p) -> None:
    from fer_core.catalog.model import PRECISION_ENV, PRECISIONS

    p.add_argument("--precision", choices=list(PRECISIONS),
                   help=f"the networks' precision on LiteRT: int8 (the default; members without an integer "
                        f"network run float32) or float32; default ${PRECISION_ENV}, else int8")


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="score a model on a FER2013 split")
    p.add_argument("--data", help=DATA_HELP)
    p.add_argument("--split", default="PrivateTest", help="PrivateTest (default), PublicTest, Training, RandomTest")
    p.add_argument("--model", help="model folder (default: the bundled default model)")
    p.add_argument("--tta", choices=list(TTA_MODES), help="test-time augmentation (default: the model's)")
    _add_precision(p)
    p.add_argument("--json", help="write the metrics JSON here")
    p.add_argument("--skip-bad-rows", action="store_true", help="drop invalid rows (and say how many) instead of stopping")
    p.add_argument("--record", action="store_true",
                   help="also store the result in the model folder (evaluation/<split>[-<tta>].json and metadata)")
    from fer_core.evaluation.corruptions import CORRUPTIONS, SEVERITIES

    p.add_argument("--corruptions", action="store_true",
                   help=f"also score the split under {len(CORRUPTIONS)} camera-like corruptions "
                        f"({', '.join(CORRUPTIONS)}) at {len(SEVERITIES)} severities (robustness report)")


def _run_evaluate(args) -> int:
    from fer_core.inference.classifier import Classifier
    from fer_core.data.fer2013 import load_fer2013
    from fer_core.evaluation.evaluate import evaluate, format_report, leak_free_metrics, record_in_model, write_json

    if args.json:
        _check_output(args.json, "--json", folder=False)
    # The data first: a bad file or an empty split is refused before the model is loaded.
    data = load_fer2013(args.data, skip_bad_rows=args.skip_bad_rows)
    if data.skipped:
        print(f"skipped {data.skipped} bad row(s) of {data.source}", file=sys.stderr)
    images, labels = data.require_split(args.split)
    if args.record and args.precision == "int8":
        raise CliError("--record stores float32 evaluations only (the README's table, the app's quoted accuracy); "
                       "drop --precision int8, or use --json")
    # the stored evaluations are the float networks': --record scores float32 whatever $FER_PRECISION says
    classifier = Classifier.load(args.model, precision="float32" if args.record else args.precision)
    metrics, probabilities = evaluate(classifier, images, labels, tta=args.tta)
    metrics["split"] = args.split
    metrics["data"] = data.source
    metrics["precision"] = classifier.precision
    training_images, _ = data.split("Training")
    if args.split in ("PublicTest", "PrivateTest") and len(training_images):
        metrics["leak_free"] = leak_free_metrics(labels, probabilities, classifier.labels, images, training_images)
    print(format_report(metrics))
    if args.corruptions:
        from fer_core.evaluation.corruptions import corruption_report, format_corruption_report

        metrics["robustness"] = corruption_report(classifier, images, labels, tta=args.tta)
        print(format_corruption_report(metrics["robustness"]))
    if args.json:
        with _writing(args.json, "--json"):
            write_json(metrics, args.json)
    if args.record:
        with _writing(classifier.folder, "--record"):
            record_in_model(classifier.folder, metrics)
    return 0


def _add_select_tta(sub) -> None:
    p = sub.add_parser("select-tta", help="choose a model's default test-time augmentation on PublicTest")
    p.add_argument("--data", help=DATA_HELP)
    p.add_argument("--model", help="model folder (default: the bundled default model)")
    p.add_argument("--tta", nargs="+", choices=TTA_MODES, help="the TTAs to try (default: all)")
    p.add_argument("--input-blur", nargs="+", type=float, metavar="SIGMA",
                   help=f"the Gaussian input blurs to try (default: {' '.join(map(str, INPUT_BLUR_GRID))})")
    p.add_argument("--smoothing", nargs="+", type=float, metavar="SIGMA", dest="input_blur", action=_DeprecatedAlias,
                   help="deprecated alias of --input-blur (removed in the next release)")


class _DeprecatedAlias(argparse.Action):
    """An old option name that still works, saying once on stderr which name replaces it."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        replacement = "--" + self.dest.replace("_", "-")
        print(f"{option_string} is deprecated and will be removed; use {replacement}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def _run_select_tta(args) -> int:
    from fer_core.inference.classifier import Classifier
    from fer_core.data.fer2013 import load_fer2013
    from fer_core.evaluation.evaluate import select_tta, store_default_tta

    images, labels = load_fer2013(args.data).require_split("PublicTest")  # never PrivateTest: that is the test set
    # the stored inference defaults and their accuracies are the float32 networks', as --record's
    classifier = Classifier.load(args.model, precision="float32")
    if any(sigma < 0 for sigma in args.input_blur or ()):
        raise ValueError("--input-blur: a blur sigma is 0 or more")
    best, blur, scores = select_tta(classifier, images, labels, args.input_blur or INPUT_BLUR_GRID, args.tta)
    for sigma, by_tta in scores.items():
        for mode, accuracy in by_tta.items():
            print(f"PublicTest accuracy with tta={mode:<8} input blur={sigma:<4} {accuracy:.4f}")
    store_default_tta(classifier.folder, best, blur, scores, "PublicTest")
    print(f"default inference of {classifier.name}: tta {best}, input blur {blur}")
    return 0


def _add_fit_temperature(sub) -> None:
    p = sub.add_parser("fit-temperature",
                       help="fit the model's confidence temperature on PublicTest (stored in its metadata); "
                            "reports PrivateTest calibration error before and after")
    p.add_argument("--data", help=DATA_HELP)
    p.add_argument("--model", help="model folder (default: the bundled default model)")
    p.add_argument("--tta", nargs="+", choices=TTA_MODES,
                   help="the TTAs to fit (default: the model's default TTA and none, which the live path runs)")


def _run_fit_temperature(args) -> int:
    from fer_core.data.fer2013 import load_fer2013
    from fer_core.evaluation.evaluate import require_fer2013_labels
    from fer_core.evaluation.temperature import FIT_SPLIT, REPORT_SPLIT, calibration_report, raw_probabilities, store_temperatures
    from fer_core.inference.classifier import Classifier

    data = load_fer2013(args.data)
    classifier = Classifier.load(args.model)
    require_fer2013_labels(classifier)
    ttas = list(dict.fromkeys(args.tta or [classifier.tta, "none"]))
    fit_images, fit_labels = data.require_split(FIT_SPLIT)  # the temperature never sees PrivateTest
    test_images, test_labels = data.require_split(REPORT_SPLIT)
    print(f"{classifier.name} ({classifier.precision}, {classifier.runtime_label}): scoring {FIT_SPLIT} and "
          f"{REPORT_SPLIT} at {', '.join(ttas)}", file=sys.stderr)
    report = calibration_report(raw_probabilities(classifier, fit_images, ttas), fit_labels,
                                raw_probabilities(classifier, test_images, ttas), test_labels)
    for tta, row in report.items():
        print(f"{classifier.name} tta={tta:<6} T={row['temperature']:.3f}  {REPORT_SPLIT} ECE "
              f"{row[f'{REPORT_SPLIT}_ece_before']:.4f} -> {row[f'{REPORT_SPLIT}_ece_after']:.4f}  NLL "
              f"{row[f'{REPORT_SPLIT}_nll_before']:.4f} -> {row[f'{REPORT_SPLIT}_nll_after']:.4f}")
    store_temperatures(classifier.folder, classifier.precision, report,
                       "python -m fer_core " + " ".join(sys.argv[1:] or ["fit-temperature"]))
    print(f"stored in {classifier.folder}/metadata.json (inference.temperature.{classifier.precision})")
    return 0


def _add_ensemble(sub) -> None:
    p = sub.add_parser("ensemble", help="make a model folder that averages the probabilities of trained models")
    p.add_argument("out", help="the ensemble's folder (gets metadata.json only; members are not copied)")
    p.add_argument("members", nargs="+", metavar="MODEL_DIR", help="two or more model folders (same labels and input)")
    p.add_argument("--name", help="the ensemble's name (default: the folder's name)")
    p.add_argument("--selection", metavar="JSON",
                   help="how the members were chosen: the file `scripts/compare_ensembles.py --json` wrote "
                        "(stored in the metadata as architecture.selection)")


def _run_ensemble(args) -> int:
    from fer_core.catalog.model import create_ensemble, read_selection

    selection = read_selection(args.selection) if args.selection else None
    folder = create_ensemble(args.out, args.members, name=args.name, selection=selection)
    print(f"wrote {folder}; choose its test-time augmentation with "
          f"`python -m fer_core select-tta --model {folder}` and score it with `evaluate --record`")
    return 0


def _add_export(sub) -> None:
    p = sub.add_parser("export", help="write model.tflite and model.int8.tflite (LiteRT) beside model.keras; "
                                      "every member of an ensemble")
    p.add_argument("models", nargs="+", metavar="MODEL_DIR", help="model folders")
    p.add_argument("--precision", choices=["both", "float32", "int8"], default="both",
                   help="both (default); float32: model.tflite only; int8: model.int8.tflite only, from the "
                        "model.tflite already there (integer networks need FER2013: Training faces calibrate "
                        "them, PublicTest gates them)")
    p.add_argument("--data", help=DATA_HELP)


def _run_export(args) -> int:
    from fer_core.training.export import export_model_folder

    if args.precision != "int8":
        for folder in args.models:
            for path in export_model_folder(folder):
                print(f"wrote {path}")
    if args.precision == "float32":
        return 0
    from fer_core.data.parse_cache import load_fer2013_cached
    from fer_core.evaluation.int8_gates import export_int8_folder

    data = load_fer2013_cached(args.data)
    training, _ = data.require_split("Training")
    public, public_labels = data.require_split("PublicTest")
    for folder in args.models:
        for member, record in export_int8_folder(folder, training, public, public_labels):
            g = record["gates"]
            verdict = f"wrote {member / record['file']}" if record["accepted"] else \
                f"{member}: stays float32 ({'; '.join(g['reasons'])})"
            print(f"{verdict}; PublicTest accuracy {g['accuracy_float32']:.4f} -> {g['accuracy_int8']:.4f}, "
                  f"ECE {g['ece_float32']:.4f} -> {g['ece_int8']:.4f}, top label agrees on {g['agreement']:.1%}")
    return 0


def _add_predict(sub) -> None:
    p = sub.add_parser("predict", help="emotions of the faces in image files")
    p.add_argument("images", nargs="+", help="image files (JPEG, PNG, WebP, BMP, TIFF)")
    p.add_argument("--model", help="model folder (default: the bundled default model)")
    from fer_core.inference.detect import DEFAULT_DETECTOR, DETECTORS

    p.add_argument("--detector", default=DEFAULT_DETECTOR, choices=list(DETECTORS),
                   help=f"face detector (default {DEFAULT_DETECTOR}: faces from 4%% of the image's longer side to "
                        "close-ups; blazeface: fast, large faces only; haar: the classic cascade)")
    p.add_argument("--aligned", action="store_true", help="each image is already one face crop (FER2013-style)")
    p.add_argument("--tta", choices=list(TTA_MODES), help="test-time augmentation (default: the model's)")
    _add_precision(p)
    p.add_argument("--json", action="store_true", help="print JSON: one entry per file")
    p.add_argument("--csv", metavar="FILE", help="also write one row per face as CSV (the app's photo columns), and "
                                                 "what made it (model, weights' sha256, detector, TTA) as FILE.provenance.json")
    _add_baseline_options(p)
    p.add_argument("--save-baseline", metavar="FILE",
                   help="with --neutral: also save the neutral baseline as a file, for --baseline next time")
    p.add_argument("--save-calibration", metavar="FILE", dest="save_baseline", action=_DeprecatedAlias,
                   help="deprecated alias of --save-baseline (removed in the next release)")
    p.add_argument("--annotate", metavar="DIR", help="also save each image with its faces drawn, as PNG")
    from fer_core.inference.draw import DEFAULT_MIN_CONFIDENCE

    p.add_argument("--min-confidence", type=float, default=DEFAULT_MIN_CONFIDENCE, metavar="P",
                   help=f"with --annotate: draw faces below this confidence as \"?\" (0-1, default {DEFAULT_MIN_CONFIDENCE}, "
                        "as the app)")


def _add_baseline_options(p) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--neutral", action="append", metavar="REF_IMAGE",
                       help="neutral baseline: a photo of the person's relaxed, neutral face (repeatable); the "
                            "largest face of each makes the baseline, and every face is read against it")
    group.add_argument("--baseline", metavar="FILE",
                       help="a neutral baseline from a saved file (--save-baseline, or the app's download)")
    group.add_argument("--calibration", metavar="FILE", dest="baseline", action=_DeprecatedAlias,
                       help="deprecated alias of --baseline (removed in the next release)")


def _baseline(args, classifier, detector):
    """The neutral baseline the options ask for (None without one), made before any other work.

    Raises:
        BaselineError: a reference without a face, a bad file, another model's baseline.
    """
    from fer_core.inference.baseline_file import read_baseline_file
    from fer_core.inference.neutral_reference import baseline_from_images, read_reference

    if args.baseline:
        return read_baseline_file(args.baseline, classifier)
    if not args.neutral:
        return None
    references = [(path, read_reference(path)) for path in args.neutral]
    return baseline_from_images(references, classifier, detector, aligned=getattr(args, "aligned", False),
                                tta=getattr(args, "tta", None))


def _run_predict(args) -> int:
    import json
    from pathlib import Path

    from fer_core.inference.classifier import Classifier
    from fer_core.inference.detect import alternative_detector, make_detector
    from fer_core.inference.draw import annotate
    from fer_core.inference.images import encode_png
    from fer_core.inference.infer import analyse_files
    from fer_core.inference.rows import face_columns, rows_to_csv

    if not 0 <= args.min_confidence <= 1:
        raise CliError(f"--min-confidence {args.min_confidence}: expected a confidence from 0 to 1, e.g. 0.4")
    annotate_dir = _output_folder(args.annotate, "--annotate") if args.annotate else None
    if args.csv:
        _check_output(args.csv, "--csv", folder=False)
    if args.save_baseline:
        if not args.neutral:
            raise CliError("--save-baseline: give the neutral reference photos with --neutral")
        _check_output(args.save_baseline, "--save-baseline", folder=False)
    classifier = Classifier.load(args.model, precision=args.precision)
    detector = None if args.aligned else make_detector(args.detector)
    baseline = _baseline(args, classifier, detector)
    if args.save_baseline:
        with _writing(args.save_baseline, "--save-baseline"):
            Path(args.save_baseline).write_text(baseline.to_json())
    if baseline is not None:
        print(f"neutral baseline {baseline.describe()}: every face is read against it", file=sys.stderr)
    from fer_core.catalog.provenance import of_classifier, sidecar_path, to_json

    made_by = of_classifier(classifier, None if args.aligned else args.detector, args.tta, baseline)
    results, rows, failed = [], [], 0
    for result in analyse_files(args.images, classifier, detector, aligned=args.aligned, tta=args.tta,
                                baseline=baseline):
        results.append({**result.to_dict(), "vs_neutral": baseline is not None, "model": classifier.name,
                        "precision": classifier.precision, "provenance": made_by})
        rows += result.rows()
        if result.error:
            failed += 1
            print(f"error: {result.error}", file=sys.stderr)
            continue
        if annotate_dir is not None:
            out = annotate_dir / (Path(result.file).stem + ".annotated.png")
            with _writing(out, "--annotate"):
                out.write_bytes(encode_png(annotate(result.image, result.faces, args.min_confidence)))
        if not args.json:
            if not result.faces:
                print(f"{result.file}: no face found; try --detector {alternative_detector(args.detector)}")
            for i, face in enumerate(result.faces, 1):
                print(f"{result.file}: face {i} at {face.box.as_list()}: {face.label} ({face.confidence:.0%})"
                      + face.kind.printed())
    if args.json:
        print(json.dumps(results, indent=2))
    if args.csv:
        with _writing(args.csv, "--csv"):
            Path(args.csv).write_bytes(rows_to_csv(rows, face_columns(classifier.labels, ("file", "face"))))
            sidecar_path(args.csv).write_text(to_json(made_by))  # beside the CSV: CSV readers never see it
    return 1 if failed else 0


def _add_validate(sub) -> None:
    p = sub.add_parser("validate", help="score the whole pipeline (detector + model) on your own labelled photos, "
                                        "with 95%% bootstrap intervals")
    p.add_argument("folder", help="a folder with one sub-folder per emotion, named as the model's labels in any case "
                                  "(happy/, sad/, ...), holding full-size photos")
    p.add_argument("--model", help="model folder (default: the bundled default model)")
    from fer_core.inference.detect import DEFAULT_DETECTOR, DETECTORS

    p.add_argument("--detector", default=DEFAULT_DETECTOR, choices=list(DETECTORS),
                   help=f"face detector (default {DEFAULT_DETECTOR})")
    p.add_argument("--json", metavar="OUT", help="also write the figures as JSON (accuracy, ci_low, ci_high, macro_f1, "
                                                 "per_class, no_face, confusion_matrix, provenance)")


def _run_validate(args) -> int:
    import json

    from fer_core.catalog.provenance import of_classifier
    from fer_core.evaluation.validate import format_validation, labelled_photos, validate
    from fer_core.inference.classifier import Classifier
    from fer_core.inference.detect import make_detector

    if args.json:
        _check_output(args.json, "--json", folder=False)
    classifier = Classifier.load(args.model)
    labelled_photos(args.folder, classifier.labels)  # a bad folder is refused before the detector loads
    metrics = validate(args.folder, classifier, make_detector(args.detector), progress=_progress_line("photos"))
    metrics["provenance"] = of_classifier(classifier, args.detector)
    print(format_validation(metrics))
    if args.json:
        with _writing(args.json, "--json"):
            Path(args.json).write_text(json.dumps(metrics, indent=2) + "\n")
    return 0


def _add_bench(sub) -> None:
    p = sub.add_parser("bench", help="speed benchmark beside the seed's approach")
    p.add_argument("--model", help="time this model folder only (default: both paths, the default model and the live model)")
    p.add_argument("--runtime", choices=["auto", "litert", "keras"], default="auto",
                   help="auto (default): LiteRT where the model has model.tflite, else Keras")
    p.add_argument("--precision", choices=["both", "int8", "float32"], default="both",
                   help="both (default): each model on LiteRT in int8 and in float32, side by side; "
                        "int8 or float32: that one only")
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--json", help="also write the figures as JSON here")


def _run_bench(args) -> int:
    import json

    from fer_core.evaluation.bench import format_bench, run_bench
    from fer_core.inference.classifier import Classifier
    from fer_core.catalog.model import live_model_dir

    if args.repeats < 1:
        raise CliError(f"--repeats {args.repeats}: a median needs at least one timing; give 1 or more (default 30)")
    if args.json:
        _check_output(args.json, "--json", folder=False)
    precision = None if args.precision == "both" else args.precision
    classifier = Classifier.load(args.model, runtime=args.runtime, precision=precision)
    live = None if args.model else Classifier.load(live_model_dir(), runtime=args.runtime, precision=precision)
    results = run_bench(classifier, repeats=args.repeats, live=live, precisions=args.precision == "both")
    print(format_bench(results))
    if args.json:
        with _writing(args.json, "--json"), open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    return 0


def _add_batch(sub) -> None:
    from fer_core.drivers.batch import ENGINES
    from fer_core.drivers.batch_inputs import IMAGE_SUFFIXES, VIDEO_SUFFIXES

    p = sub.add_parser("batch", help="every face in many photos and videos, into one Parquet table (resumable)")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image or video files, folders (searched recursively for "
                        f"{' '.join(IMAGE_SUFFIXES + VIDEO_SUFFIXES)}) or quoted globs such as 'shots/**/*.jpg'")
    p.add_argument("--out", required=True,
                   help="the Parquet table, one row per face; files already in it are skipped, so rerunning resumes")
    p.add_argument("--engine", default="local", choices=list(ENGINES),
                   help="local (default): in this process; ray: an actor per CPU with Ray Data")
    p.add_argument("--ray-address", metavar="ADDR",
                   help="with --engine ray: join this running cluster (e.g. auto); default: start a local Ray")
    p.add_argument("--model", help="one model folder for photos and videos alike (default: the bundled default "
                                   "model, the most accurate; the app's video page uses the faster live model)")
    _add_precision(p)
    p.add_argument("--every", type=int, default=5, help="analyse every N-th video frame (default 5, as the app's "
                                                        "video page; 1 = every frame)")
    _add_baseline_options(p)


def _progress_line(what: str) -> Callable[[int, int], None]:
    """``progress(done, total)`` on stderr: one line redrawn in place on a terminal, a line per tenth in a log."""
    tty = sys.stderr.isatty()
    shown = -1

    def progress(done: int, total: int) -> None:
        nonlocal shown
        if tty:
            print(f"\r{done}/{total} {what}", end="\n" if done == total else "", file=sys.stderr, flush=True)
        elif done * 10 // total > shown:
            shown = done * 10 // total
            print(f"{done}/{total} {what}", file=sys.stderr, flush=True)

    return progress


def _run_batch(args) -> int:
    from fer_core.drivers.batch import run_batch

    if args.every < 1:
        raise CliError(f"--every {args.every}: expected 1 or more (1 analyses every frame)")
    if args.ray_address and args.engine != "ray":
        raise CliError(f"--ray-address {args.ray_address}: only with --engine ray")
    if args.precision:
        from fer_core.catalog.model import PRECISION_ENV

        # every worker loads its own classifier (Ray actors too): the environment reaches them all
        os.environ[PRECISION_ENV] = args.precision
    if Path(args.out).is_dir():
        raise CliError(f"--out {args.out}: is a folder; give a file path, e.g. {Path(args.out) / 'results.parquet'}")
    _check_output(args.out, "--out", folder=False)
    baseline = None
    if args.neutral or args.baseline:
        from fer_core.drivers.batch_engines import load_worker

        baseline = _baseline(args, *load_worker(args.model))
        print(f"neutral baseline {baseline.describe()}: every face is read against it", file=sys.stderr)
    summary = run_batch(args.inputs, args.out, engine=args.engine, model=args.model, every=args.every,
                        ray_address=args.ray_address, progress=_progress_line("files"), baseline=baseline)
    print(summary.describe())
    return 1 if summary.errors else 0


def _add_study(sub) -> None:
    p = sub.add_parser("study", help="a study: many participants' videos, stimulus windows, group figures with 95%% CIs")
    p.add_argument("action", choices=["run"], help="run: analyse the study (participants already in --out's store "
                                                   "with the same video and settings are not analysed again)")
    p.add_argument("study_csv", metavar="study.csv", help="participant, video[, neutral_image | neutral_seconds], "
                                                          "covariates...")
    p.add_argument("--markers", required=True, metavar="markers.csv",
                   help="stimulus, onset, offset in seconds[, participant for per-participant timings]")
    p.add_argument("--out", required=True, metavar="DIR", help="the study's folder: tables, methods, manifest, store")
    p.add_argument("--engine", default="local", choices=["local", "ray"],
                   help="local (default): in this process; ray: an actor per CPU with Ray Data")
    p.add_argument("--ray-address", metavar="ADDR", help="with --engine ray: join this running cluster")
    p.add_argument("--every", type=int, default=5, help="analyse every N-th video frame (default 5)")
    p.add_argument("--by", metavar="COLUMN", help="also summarise per value of this covariate column")
    p.add_argument("--model", help="model folder (default: the fast model, as the app's video page)")


def _run_study(args) -> int:
    from fer_core.study.run import run_study

    if args.ray_address and args.engine != "ray":
        raise CliError(f"--ray-address {args.ray_address}: only with --engine ray")
    out = _output_folder(args.out, "--out")
    result = run_study(args.study_csv, args.markers, out, engine=args.engine, every=args.every, by=args.by,
                       model=args.model, ray_address=args.ray_address, progress=_progress_line("participants"))
    print(result.describe())
    return 1 if result.failed else 0
def _add_serve(sub) -> None:
    from fer_core.api.server import DEFAULT_HOST, DEFAULT_PORT, default_workers
    from fer_core.inference.detect import DEFAULT_DETECTOR, DETECTORS

    p = sub.add_parser("serve", help="the HTTP API: POST /v1/analyze, GET /v1/models, /healthz; OpenAPI at /docs")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST}: this machine only; "
                                                        "0.0.0.0 for every interface, best with $FER_API_TOKEN set)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--model", help="model folder (default: the bundled default model)")
    p.add_argument("--detector", default=DEFAULT_DETECTOR, choices=list(DETECTORS), help=f"face detector (default {DEFAULT_DETECTOR})")
    p.add_argument("--workers", type=int, default=default_workers(),
                   help="requests analysed at once, each on its own copy of the model (default: the cores, at most 4)")


def _run_serve(args) -> int:
    if not 0 < args.port < 65536:
        raise CliError(f"--port {args.port}: expected a port from 1 to 65535, e.g. 8000")
    if args.workers < 1:
        raise CliError(f"--workers {args.workers}: expected 1 or more")
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise CliError("serve needs the API's packages: pip install 'fer-studio[api]' (bash scripts/setup.sh installs them)") from None
    from fer_core.api.server import serve

    serve(args.host, args.port, args.model, args.detector, args.workers)
    return 0


def _add_app(sub) -> None:
    sub.add_parser("app", help="start the Streamlit studio (streamlit run streamlit_app.py); any other option goes to "
                               "Streamlit, e.g. fer-studio app --server.port 8502")


def _run_app(args) -> int:
    """Replace this process with ``streamlit run`` (so signals reach Streamlit itself), MALLOC_ARENA_MAX=2 unless set."""
    from fer_core.common.paths import ROOT_DIR

    script = ROOT_DIR / "streamlit_app.py"
    if not script.is_file():
        raise CliError(f"the studio's {script.name} is not beside the package ({ROOT_DIR}): the app runs from a "
                       "checkout (pip install -e .), not from an installed wheel")
    try:
        import streamlit  # noqa: F401
    except ImportError:
        raise CliError("app needs the studio's packages: pip install 'fer-studio[app]' (bash scripts/setup.sh installs them)") from None
    os.environ.setdefault("MALLOC_ARENA_MAX", "2")  # glibc reads it at start: the new process gets it
    os.chdir(ROOT_DIR)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "streamlit", "run", str(script), *args.streamlit_args])


COMMANDS = {
    "train": (_add_train, _run_train),
    "evaluate": (_add_evaluate, _run_evaluate),
    "select-tta": (_add_select_tta, _run_select_tta),
    "fit-temperature": (_add_fit_temperature, _run_fit_temperature),
    "ensemble": (_add_ensemble, _run_ensemble),
    "export": (_add_export, _run_export),
    "predict": (_add_predict, _run_predict),
    "validate": (_add_validate, _run_validate),
    "bench": (_add_bench, _run_bench),
    "batch": (_add_batch, _run_batch),
    "study": (_add_study, _run_study),
    "serve": (_add_serve, _run_serve),
    "app": (_add_app, _run_app),
}


class _Version(argparse.Action):
    """``--version``: the package version and the default models' weight hashes (hashed only when asked)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None) -> None:
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        from fer_core.catalog.provenance import version_text

        print(version_text())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fer_core", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action=_Version,
                        help="print the version and the sha256 of the default models' weights, and exit")
    sub = parser.add_subparsers(dest="command", required=True)
    for add, _ in COMMANDS.values():
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # No TensorFlow here: the bundled models run on LiteRT, and the modules that run Keras
    # (fer_core.training.architectures, model.load_keras_model, litert.export_tflite) import it quietly.
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "app":  # only `app` passes options on (to Streamlit)
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.streamlit_args = extra
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S",
    )
    try:
        return COMMANDS[args.command][1](args)
    except ModuleNotFoundError as exc:
        from fer_core.common.quiet import TENSORFLOW_HINT, missing_tensorflow

        if not missing_tensorflow(exc):
            raise
        log.debug("details of the error below", exc_info=True)
        print(f"error: {args.command} needs TensorFlow, which this install leaves out; {TENSORFLOW_HINT}", file=sys.stderr)
        return 2
    except (CliError, OSError, ValueError) as exc:
        # DataError, ModelError, ImageError and VideoError are ValueErrors; OSError covers paths no
        # runner checked (FileNotFoundError, FileExistsError, a full disk): one clear line, no traceback.
        log.debug("details of the error below", exc_info=True)
        print(f"error: {_describe(exc)}", file=sys.stderr)
        return 2


def _describe(exc: BaseException) -> str:
    """One line for an error: an OSError as "path: reason" rather than "[Errno 2] ...: 'path'"."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc)
