"""Model evaluation: test scores, per-class results, confusion matrix, calibration, training curves,
a comparison of every bundled model and a gallery of misclassified faces."""
import pandas as pd
import streamlit as st

from fer_core.reports import plots
from fer_core.evaluation.corruptions import CORRUPTIONS, SEVERITIES
from fer_core.data.fer2013 import DATA_ENV, DataError
from fer_core.catalog.evaluations import WATCHED_CLASSES, tta_name
from fer_core.evaluation.evaluate import accuracy, confusions, most_confident_mistakes, require_fer2013_labels, top_confusion
from fer_core.catalog.model import TTA_MODES, ModelError
from fer_core.catalog.model_info import EVAL_SPLITS, describe, format_params, model_version
from fer_core.catalog.model_table import comparison_rows
from ui import resources, sidebar

GALLERY_SPLIT = "PrivateTest"
GALLERY_MAX = 24

settings = sidebar.current()
st.title("Model evaluation")
if settings.model_dir is None:
    sidebar.require_classifier(settings)  # says there is no model and how to get one
    st.stop()
try:
    info = describe(settings.model_dir)
except ModelError as exc:
    st.error(str(exc))
    st.stop()
folder = info.folder
st.caption(f"Model **{info.name}** ({info.architecture}; parameters: {format_params(info.params)}).")
model_arg = resources.model_argument(folder)


def command(split: str) -> str:
    """The command that evaluates this model on a split and stores the result with it."""
    return f"python -m fer_core evaluate --split {split} --record --model {model_arg}"


st.header("Test scores")
evals = info.evaluations
cols = st.columns(3)
for col, split in zip(cols, EVAL_SPLITS):
    best = info.headline(split)
    if best:
        col.metric(f"{split} accuracy ({tta_name(best.tta)})", f"{best.accuracy:.1%}", help=f"n = {best.n or '?'}")
        if best.macro_f1 is not None:
            col.metric(f"{split} macro-F1", f"{best.macro_f1:.3f}")
        if best.leak_free:
            col.metric(f"{split} leak-free accuracy", f"{best.leak_free['accuracy']:.1%}",
                       help=f"The {best.leak_free['n']} images with no exact copy in Training "
                            f"({best.leak_free['excluded']} left out): faces the model has never seen")
        recalls = {name: best.recall(name) for name in WATCHED_CLASSES}
        if all(value is not None for value in recalls.values()):
            col.caption("Recall of the hard classes: " + ", ".join(f"{k} {v:.2f}" for k, v in recalls.items()))
    elif split != "RandomTest":
        col.info(f"No {split} evaluation yet. Produce it with:\n\n`{command(split)}`")
if not evals:
    st.warning(f"{info.name} has no stored evaluation. Run `{command('PrivateTest')}` (and the same with "
               "`--split PublicTest`) to evaluate it and store the results with the model.")
else:
    st.dataframe(pd.DataFrame([{"evaluation": k, "split": v.split, "TTA": tta_name(v.tta), "images": v.n,
                                "accuracy": v.accuracy, "macro-F1": v.macro_f1} for k, v in evals.items()]),
                 hide_index=True)
    chosen = st.selectbox("Details of", list(evals), key="eval_choice")
    result = evals[chosen]
    labels = list(result.labels or info.labels)
    if result.per_class:
        st.subheader("Per class")
        table = pd.DataFrame(result.per_class).T.reindex(labels).rename_axis("emotion")
        st.dataframe(table.round(3), width="content")
    if result.confusion_matrix:
        st.subheader("Confusion matrix")
        normalise = st.toggle("Row-normalised (share of each true class)", key="cm_normalise")
        try:
            st.plotly_chart(plots.confusion_matrix(result.confusion_matrix, labels, normalise=normalise), key="cm")
        except ValueError as exc:  # a matrix that does not match the labels
            st.error(f"{chosen}.json: {exc}")
    if result.reliability:
        st.subheader("Calibration")
        st.plotly_chart(plots.reliability_diagram(result.reliability), key="reliability")
        st.caption("Bars: accuracy of the predictions in each confidence bin. A calibrated model follows the "
                   "diagonal; ECE is the count-weighted mean gap. Recorded when this evaluation ran: "
                   + (f"with temperature {result.temperature:.2f}." if result.temperature else
                      "an evaluation stored before the model's temperature was fitted shows the raw scores "
                      "(see Confidence calibration below)."))

fits = {(precision, tta): row for precision, fit in info.temperature_fit.items()
        for tta, row in (fit.get("by_tta") or {}).items() if isinstance(row, dict)}
if fits:
    st.header("Confidence calibration")
    keys = sorted(fits, key=lambda k: k[1] != info.tta)  # the model's default TTA first
    precision, tta = keys[0] if len(keys) == 1 else st.selectbox(
        "Temperature of", keys, format_func=lambda k: f"{k[0]}, {tta_name(k[1])}", key="temperature_choice")
    row = fits[(precision, tta)]
    cols = st.columns(2)
    for col, when, title in ((cols[0], "before", "raw scores"), (cols[1], "after", f"temperature {row['temperature']:.2f}")):
        with col:
            st.caption(f"PrivateTest, {title}")
            st.plotly_chart(plots.reliability_diagram(row[f"reliability_{when}"]), key=f"temperature-{when}")
    st.caption(f"One temperature T per model and TTA, fitted on PublicTest only (minimum negative log-likelihood of "
               f"softmax(log p / T)); log-scores are divided by it wherever they are made, so a confidence of 60 % means "
               f"about 60 % correct for every model. PrivateTest expected calibration error "
               f"{row['PrivateTest_ece_before']:.3f} → {row['PrivateTest_ece_after']:.3f}. "
               f"Refit with `python -m fer_core fit-temperature --model {model_arg}`.")

robust = [v for v in evals.values() if v.robustness]
if robust:
    st.header("Robustness to camera conditions")
    shown = robust[0] if len(robust) == 1 else robust[[v.key for v in robust].index(
        st.selectbox("Robustness report of", [v.key for v in robust], key="robust_choice"))]
    try:
        st.plotly_chart(plots.robustness(shown.robustness), key="robustness")
    except (ValueError, KeyError, TypeError) as exc:
        st.error(f"{shown.key}.json: the robustness report cannot be drawn ({exc})")
    st.caption(f"Accuracy with {len(CORRUPTIONS)} camera-like corruptions "
               f"({', '.join(name.replace('_', ' ') for name in CORRUPTIONS)}) at {len(SEVERITIES)} severities. "
               f"Produce it with `python -m fer_core evaluate --corruptions --record --model {model_arg}`.")

st.header("Training")
history = list(info.history)
training = info.training
if history:
    st.plotly_chart(plots.training_curves(history), key="curves")
elif training.members:
    st.caption("An ensemble has no training curves of its own; each member's run is summarised below.")
else:
    st.caption("This model's metadata has no training history.")
if training.members:
    st.caption(f"An ensemble: it averages the probabilities of {', '.join(training.members)}, "
               f"trained for {training.minutes or 0:.0f} min in all on {training.hardware or 'unrecorded hardware'}.")
    for member, run in training.members.items():
        st.caption(f"**{member}**: {run.summary()}")
elif training.recorded:
    st.caption(training.summary())

st.header("All bundled models")
folders = resources.model_folders()
timings = st.session_state.setdefault("model_timings", {})
if st.button("Measure speed (ms per face)", help="Times a batch of 32 faces on each model, once"):
    for path in folders:
        try:
            timings[str(path)] = round(resources.ms_per_face(str(path), model_version(path)), 2)
        except (ModelError, ValueError, OSError) as exc:
            st.error(f"{path.name}: {exc}")
st.dataframe(pd.DataFrame(comparison_rows(folders, timings or None)), hide_index=True)

st.header("Misclassified examples")
try:
    data = resources.load_path(resources.default_data_path())
except FileNotFoundError:
    st.info(f"The gallery needs FER2013 (fer2013.csv.gz): set `{DATA_ENV}` to its path.")
    st.stop()
except (DataError, ValueError, OSError) as exc:
    st.error(str(exc))
    st.stop()
model = sidebar.require_classifier(settings)
if model is None:
    st.stop()
try:
    require_fer2013_labels(model)  # the gallery compares FER2013 codes with the model's outputs
except ModelError as exc:
    st.error(str(exc))
    st.stop()
tta = st.selectbox("Test-time augmentation for the gallery", TTA_MODES, key="gallery_tta", format_func=tta_name,
                   help="No TTA is fastest. The first run with a model and TTA classifies the whole split: seconds "
                        "without TTA; ten-crop and shift run 10 views per face, 1–3 minutes on a 2-core CPU "
                        "(the most for an ensemble); the result is kept for the next start.")
images, y_true = data.split(GALLERY_SPLIT)
probs = resources.split_predictions(str(folder), model_version(folder), resources.data_key(data),
                                    GALLERY_SPLIT, tta, data)
y_pred = probs.argmax(axis=1)
labels = list(model.labels)
true_default, pred_default = top_confusion(confusions(y_true, y_pred, len(labels)))
left, right = st.columns(2)
true_label = left.selectbox("True emotion", labels, index=true_default, key="gallery_true")
pred_label = right.selectbox("Predicted emotion", labels, index=pred_default, key="gallery_pred")
picked = most_confident_mistakes(probs, y_true, labels.index(true_label), labels.index(pred_label))
st.caption(f"{len(picked)} {GALLERY_SPLIT} image(s) of {true_label} predicted as {pred_label} "
           f"(accuracy here {accuracy(y_true, y_pred):.1%} with {tta_name(tta)}).")
if true_label == pred_label:
    st.caption("Pick two different emotions to see mistakes.")
elif len(picked):
    shown = picked[:GALLERY_MAX]
    st.image([images[i] for i in shown], caption=[f"#{i} {probs[i].max():.0%}" for i in shown], width=96)
