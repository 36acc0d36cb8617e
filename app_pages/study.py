"""Studies: many participants' videos, stimulus windows, group curves and figures with 95 % intervals."""
from pathlib import Path

import streamlit as st

from fer_core.drivers.video import VIDEO_TYPES
from fer_core.reports import plots
from fer_core.reports.indices import NOT_VALIDATED
from fer_core.study.store import StoreError
from ui import sidebar, study

settings = sidebar.current()
st.title("Studies")
st.markdown("A study is many participants watching the same stimuli. Add their videos, each participant's ID and "
            "neutral face, and the stimulus windows; the studio finds each participant's face (the person tracked "
            "longest), averages each emotion per window and over participants with 95 % bootstrap intervals. "
            "The same as `python -m fer_core study run study.csv --markers markers.csv --out DIR`. "
            "Studies are kept on the server until you delete them.")

entries = {entry.label: entry for entry in study.list_studies()}
NEW = "New study"
if "study_open" in st.session_state:  # a study just created or run: open it
    opened = st.session_state.pop("study_open")
    st.session_state["study_choice"] = next((label for label, e in entries.items() if e.name == opened), NEW)
choice = st.selectbox("Study", [NEW, *entries], key="study_choice")

if choice == NEW:
    name = st.text_input("Study name", key="study_name")
    source = st.radio("Videos", ["Upload", "A folder on the server"], horizontal=True, key="study_source",
                      help="Large studies: put the videos in a folder on the server and give its path")
    uploads, photos = [], []
    if source == "Upload":
        files = st.file_uploader("Participants' videos", type=VIDEO_TYPES, accept_multiple_files=True,
                                 key="study_videos")
        neutral = st.file_uploader("Neutral photos (optional, one per participant)", type=["jpg", "jpeg", "png"],
                                   accept_multiple_files=True, key="study_neutral")
        uploads = [(f.name, f.getvalue()) for f in files or []] + [(f.name, f.getvalue()) for f in neutral or []]
        videos, photos = [f.name for f in files or []], [f.name for f in neutral or []]
    else:
        folder = st.text_input("Folder on the server", key="study_folder")
        videos = []
        if folder:
            try:
                videos = [str(p) for p in study.video_files(Path(folder).expanduser())]
            except ValueError as exc:
                st.error(str(exc))
    if not videos:
        st.info("Add the participants' videos to set up the study.")
        st.stop()
    st.markdown("**Participants**: one row per video. `neutral_seconds`: the first N seconds of the video are the "
                "participant's neutral face; `neutral_image`: their neutral photo; `group`: a covariate.")
    participants = st.data_editor(
        study.default_participants(videos), key=f"study_participants_{len(videos)}", num_rows="fixed",
        hide_index=True, disabled=["video"],
        column_config={"neutral_image": st.column_config.SelectboxColumn(options=["", *photos]),
                       "neutral_seconds": st.column_config.NumberColumn(min_value=0.0, step=0.5)})
    st.markdown("**Stimulus windows**: seconds from the start of each video. Leave `participant` empty for a "
                "window everyone shares, or name a participant for their own timing.")
    markers = st.data_editor(study.default_markers(), key="study_markers", num_rows="dynamic", hide_index=True,
                             column_config={"onset": st.column_config.NumberColumn(min_value=0.0),
                                            "offset": st.column_config.NumberColumn(min_value=0.0)})
    if st.button("Create study", type="primary", icon=":material/add:"):
        try:
            created = study.create_study(name, participants, markers, uploads=uploads)
        except (ValueError, OSError) as exc:
            st.error(str(exc))
            st.stop()
        st.session_state["study_open"] = created.name
        st.rerun()
    st.stop()

entry = entries[choice]
folder = entry.folder
design, windows = study.design_tables(folder)
with st.expander(f"Design: {len(design)} participants, {windows['stimulus'].nunique()} stimuli",
                 expanded=not entry.has_results):
    st.dataframe(design, hide_index=True)
    st.dataframe(windows, hide_index=True)
covariates = [c for c in design.columns if c not in ("participant", "video", "neutral_image", "neutral_seconds")]
cols = st.columns(2)
every = cols[0].slider("Analyse every N-th frame", 1, 30, 5, key="study_every")
by = cols[1].selectbox("Also summarise by", ["(none)", *covariates], key="study_by")
if st.button("Run analysis" if not entry.has_results else "Run again (only new or changed participants)",
             type="primary", icon=":material/play_arrow:"):
    bar = st.progress(0.0, text="Starting…")
    try:
        result = study.run(folder, every=every, by=None if by == "(none)" else by,
                           model=str(settings.live_model_dir) if settings.live_model_dir else None,
                           progress=lambda share, text: bar.progress(share, text=text))
    except (ValueError, OSError) as exc:
        bar.empty()
        st.error(str(exc))
        st.stop()
    bar.progress(1.0, text="Done")
    st.session_state["study_message"] = result.describe()
    st.session_state["study_open"] = folder.name
    st.rerun()
if message := st.session_state.pop("study_message", None):
    (st.warning if "failed: " in message else st.success)(message)

try:
    results = study.open_results(folder)
except StoreError:
    st.info("Run the analysis to see the group results.")
    results = None

if results is not None:
    stimulus = st.selectbox("Stimulus", results.stimuli, key="study_stimulus")
    curves = results.curves()
    st.plotly_chart(plots.stimulus_curves(curves[curves["stimulus"] == stimulus], results.labels,
                                          title=f"{stimulus}: mean over participants, 95 % band"), key="study-curves")
    summary = results.tables["summary"]
    st.plotly_chart(plots.stimulus_bars(summary[summary["stimulus"] == stimulus], results.labels,
                                        title=f"{stimulus}: window means with 95 % intervals"), key="study-bars")
    st.markdown("**Participants** (a participant is left out of a window's group figures when under half of its "
                "frames show their face unflagged):")
    st.dataframe(results.participant_table(), hide_index=True)
    indices = results.indices()
    st.markdown(f"**Derived indices** ({NOT_VALIDATED}): expressiveness = 1 − P(Neutral); valence index = "
                "P(Happy) − max(P(Sad), P(Angry), P(Fear), P(Disgust)), after FaceReader's definition. "
                "Mean over participants with 95 % intervals.")
    st.dataframe(indices[indices["stimulus"] == stimulus], hide_index=True)
    with st.expander("Methods (to paste into a paper)"):
        st.markdown((folder / "methods.md").read_text() if (folder / "methods.md").is_file() else "")
    st.markdown("**Downloads**")
    files = results.downloads(folder)
    for column, path in zip(st.columns(min(4, len(files)) or 1) * (len(files) // 4 + 1), files):
        column.download_button(path.name, path.read_bytes(), path.name, on_click="ignore",
                               icon=":material/download:", key=f"study-dl-{path.name}")

with st.expander("Delete this study"):
    sure = st.checkbox(f"Delete {folder.name} and all its files (videos included)", key="study_delete_sure")
    if st.button("Delete study", disabled=not sure, icon=":material/delete:"):
        study.delete_study(folder)
        st.session_state.pop("study_choice", None)
        st.rerun()
