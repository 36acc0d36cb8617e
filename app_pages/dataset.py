"""Dataset explorer: class balance, sample faces, mean faces, pixel statistics and data quality."""
from pathlib import Path

import numpy as np
import streamlit as st

from fer_core.data import explore

from fer_core.reports import plots
from fer_core.data.fer2013 import DATA_ENV, USAGES, DataError
from fer_core.common.labels import LABELS
from fer_core.catalog.model import ModelError
from fer_core.catalog.model_info import describe
from ui import resources, sidebar

SOURCES = ("Default location", "Upload a CSV", "Image folder")
KAGGLE = "https://www.kaggle.com/c/challenges-in-representation-learning-facial-expression-recognition-challenge/data"

settings = sidebar.current()
st.title("Dataset explorer")

source = st.radio("Data source", SOURCES, horizontal=True, key="data_source")
skip_bad = st.checkbox("Skip invalid rows (and count them) instead of stopping at the first one", key="data_skip")


def show_missing(message: str) -> None:
    """No data set: how to get FER2013, then the dataset card of the selected model."""
    st.info(f"{message}\n\nFER2013 is not bundled (its licence forbids redistribution). Download "
            f"`fer2013.csv` from [Kaggle]({KAGGLE}), then either set the server's environment variable "
            f"`{DATA_ENV}` to its path (optionally gzipped, or the image-folder edition), or upload it above.")
    if settings.model_dir is None:
        return
    try:
        info = describe(settings.model_dir)
    except ModelError as exc:
        st.error(str(exc))
        return
    counts = info.class_counts
    st.subheader(f"Dataset card of the model {info.name}")
    if not counts:
        st.caption("This model's metadata has no class counts.")
        return
    st.caption(f"The images per class and split the model was trained and tested on "
               f"(source {Path(str(info.data_source or '?')).name}).")
    table = explore.distribution_from_counts(counts)
    st.plotly_chart(plots.class_distribution(table), key="card-chart")
    st.dataframe(table.pivot(index="label", columns="split", values="count").loc[list(next(iter(counts.values())))])


data = None
try:
    if source == SOURCES[0]:
        path = resources.default_data_path()
        st.caption(f"Reading `{path.name}` (set `{DATA_ENV}` on the server to read another file or folder).")
        data = resources.load_path(path, skip_bad)
    elif source == SOURCES[1]:
        upload = st.file_uploader("FER2013 CSV (.csv or .csv.gz)", type=["csv", "gz"], key="data_upload")
        if upload is not None:
            data = resources.load_upload(upload.file_id, upload.name, upload.getvalue(), skip_bad)
    else:
        folder = st.text_input("Image-folder root (holding train/<class>/ and test/<class>/)", key="data_folder")
        if folder:
            data = resources.load_path(folder, skip_bad)
except FileNotFoundError:
    if source == SOURCES[2]:  # a path the user typed: say which, not the server's configuration
        st.error(f"No image folder at `{folder}` on the server. Type the path of a folder that holds "
                 "train/<class>/ and test/<class>/ (e.g. the image-folder edition of FER2013).")
    else:
        show_missing("The server has no FER2013 data set at its configured path.")
        st.stop()
except (DataError, ValueError, OSError) as exc:  # DataError names the file, row and problem
    st.error(str(exc))
if data is None:
    show_missing("No data set loaded.")
    st.stop()

key = resources.data_key(data)
st.success(f"{len(data):,} images from {Path(data.source).name}")
if data.skipped:
    st.warning(f"{data.skipped} invalid row(s) skipped. First problems:\n\n" + "\n".join(f"- {p}" for p in data.problems[:5]))
cols = st.columns(len(USAGES))
for col, usage in zip(cols, USAGES):
    col.metric(usage, f"{int(np.sum(data.usage == usage)):,}")

st.header("Class distribution")
value = st.radio("Show", ["count", "percent"], horizontal=True, key="dist_value",
                 format_func=lambda v: "images" if v == "count" else "% of split")
table = explore.class_distribution(data.labels, data.usage)
st.plotly_chart(plots.class_distribution(table, value), key="dist-chart")

st.header("Sample images")
left, middle, right = st.columns([3, 2, 2])
classes = left.multiselect("Classes", LABELS, default=list(LABELS), key="sample_classes")
split = middle.selectbox("Split", ("All splits",) + USAGES, key="sample_split")
per_class = right.slider("Images per class", 4, 16, 8, key="sample_count")
if st.button("Reshuffle", icon=":material/shuffle:"):
    st.session_state["sample_seed"] = st.session_state.get("sample_seed", 0) + 1
samples = explore.sample_indices(data.labels, data.usage, classes=[LABELS.index(c) for c in classes],
                                 splits=None if split == "All splits" else [split], per_class=per_class,
                                 seed=st.session_state.get("sample_seed", 0))
for code, indices in samples.items():
    st.markdown(f"**{LABELS[code]}**")
    if len(indices):
        st.image([data.images[i] for i in indices], caption=[f"#{i} {data.usage[i]}" for i in indices], width=80)
    else:
        st.caption("no images of this class in this split")

st.header("Mean face per class")
means = resources.mean_faces(key, data)
st.image(list(means.values()), caption=list(means), width=110)

st.header("Pixel intensities")
by = st.radio("Group by", ["All", "split", "class"], horizontal=True, key="hist_by")
st.plotly_chart(plots.intensity_histogram(resources.intensity(key, by, data)), key="hist-chart")

st.header("Data quality")
report = resources.quality(key, data)
groups = resources.duplicate_table(key, data)
cols = st.columns(4)
cols[0].metric("Near-blank images", len(report.blank), help=f"pixel standard deviation below {explore.BLANK_STD}")
cols[1].metric("Duplicate groups", len(report.groups), help="sets of pixel-identical images")
cols[2].metric("Shared across splits", int(groups["cross_split"].sum()) if len(groups) else 0,
               help="duplicate groups that appear in more than one split (train/test leakage)")
cols[3].metric("Conflicting labels", report.conflicting, help="duplicate groups whose copies have different labels")
st.dataframe(report.summary(), hide_index=True)
if len(report.blank):
    st.markdown("**Near-blank examples**")
    shown = report.blank[:12]
    st.image([data.images[i] for i in shown], caption=[f"#{i} {data.usage[i]} {LABELS[data.labels[i]]}" for i in shown], width=80)
if len(groups):
    kind = st.selectbox("Duplicate examples", ["across splits", "conflicting labels", "all"], key="dup_kind")
    chosen = groups if kind == "all" else groups[groups["cross_split" if kind == "across splits" else "conflicting"]]
    st.dataframe(chosen.drop(columns=["cross_split", "conflicting"]), hide_index=True, height=200)
    for _, row in chosen.head(4).iterrows():
        st.image([data.images[i] for i in row["indices"][:8]],
                 caption=[f"#{i} {data.usage[i]} {LABELS[data.labels[i]]}" for i in row["indices"][:8]], width=80)
