"""Photo analysis: every face in uploaded photos or a camera snapshot, labelled and explained."""
import streamlit as st

from fer_core.catalog.evaluations import tta_name
from fer_core.common.memory import photo_cache_bytes
from ui import downloads, neutral_baseline, photo, photo_faces, sidebar

settings = sidebar.current()
st.title("Photo analysis")
st.markdown("Upload photos (JPEG, PNG, WebP, BMP or TIFF) or take a snapshot: every face found is boxed "
            "and labelled, with the probability of each emotion and a Grad-CAM map of where the model looked.")

try:
    photo_cache_bytes()  # a bad $FER_PHOTO_CACHE_MB: a clear message, not a traceback
except ValueError as exc:
    st.error(f"{exc}. Photo analysis is off until it is fixed.")
    st.stop()

model, detector = sidebar.require_pipeline(settings)
st.caption(f"Model **{model.name}** on {model.runtime_label}, {tta_name(model.tta)}, detector {settings.detector}, "
           f"minimum confidence {settings.min_confidence:.0%}.")

baseline = neutral_baseline.reference_panel("photo", model, str(settings.model_dir), settings.detector)
uploads = st.file_uploader("Photos", type=photo.IMAGE_TYPES, accept_multiple_files=True, key="photo_uploads")
with st.expander("Take a snapshot with your camera"):
    snapshot = st.camera_input("Snapshot", key="photo_camera")

files = [(f.name, f.getvalue()) for f in uploads or []]
if snapshot is not None:
    files.append(("snapshot.jpg", snapshot.getvalue()))
if not files:
    st.info("Upload one or more photos, or take a snapshot, to analyse them.")
    st.stop()
if baseline is not None:
    st.caption(neutral_baseline.baseline_caption(baseline))

results = []
for number, (name, data) in enumerate(files):
    with st.container(border=True):
        result = photo.render(name, data, settings, key=f"photo-{number}", baseline=baseline)
    if result is not None:
        results.append(result)

if len(results) > 1:
    table = photo_faces.results_table(results)
    st.header("All faces")
    st.dataframe(table, hide_index=True)
    st.download_button("All results CSV", photo_faces.to_csv(table), "emotions.csv", "text/csv",
                       on_click="ignore", icon=":material/download:")
    downloads.provenance_button(st, results[0].provenance, "emotions.csv", key="photo-all-provenance")
