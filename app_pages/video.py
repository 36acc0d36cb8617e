"""Video analysis: an annotated copy of a video, its per-frame emotions, a timeline and one per person."""
import streamlit as st

from fer_core.reports import plots
from fer_core.catalog.evaluations import tta_name
from fer_core.drivers.video import VideoError
from ui import downloads, neutral_baseline, people, sidebar, video

settings = sidebar.current()
st.title("Video analysis")
st.markdown("Upload a video (MP4, WebM, AVI or MOV): the faces of every N-th frame are analysed, and you "
            "get an annotated MP4, a per-frame CSV and an emotion timeline. Nothing is kept on the server. "
            f"At most {video.MAX_FRAMES:,} frames ({video.MAX_FRAMES // (30 * 60)} minutes at 30 fps) are analysed.")

model, detector = sidebar.require_pipeline(settings, live=True)
st.caption(f"Model **{model.name}** on {model.runtime_label} (the fast model; choose another in the sidebar), "
           f"{tta_name(model.tta)}, detector {settings.detector}.")

reference = neutral_baseline.reference_panel("video", model, str(settings.live_model_dir), settings.detector,
                                       first_seconds=True)
upload = st.file_uploader("Video", type=video.VIDEO_TYPES, key="video_upload")
every = st.slider("Analyse every N-th frame", 1, 30, 5, key="video_every",
                  help="1 analyses every frame (slowest); frames in between keep the last boxes")
# A session keeps one annotated MP4 at most: that of the current upload.
outcome = video.kept_outcome(st.session_state, upload.file_id if upload is not None else None)
if upload is None:
    st.info("Upload a video to analyse it.")
    st.stop()

job = video.job_key(upload.file_id, every, settings, reference)
if outcome is None or outcome.job != job:
    if not st.button("Analyse video", type="primary", icon=":material/play_arrow:"):
        st.stop()
    st.session_state.pop(video.OUTCOME_KEY, None)  # not two MP4s in memory while the new one is made
    bar = st.progress(0.0, text="Decoding…")
    try:
        outcome = video.analyse(upload.name, upload.getvalue(), model, detector, every=every,
                                min_confidence=settings.min_confidence, job=job, progress=video.progress_updater(bar),
                                reference=reference)
    except (VideoError, ValueError, OSError) as exc:
        bar.empty()
        st.error(str(exc))
        st.stop()
    bar.progress(1.0, text="Done")
    st.session_state[video.OUTCOME_KEY] = outcome

r = outcome.result
st.success(f"{upload.name}: {r.frames_total} frames at {r.fps:.1f} fps, {r.frames_analysed} analysed "
           f"({outcome.frames_with_face} with a face) in {outcome.seconds:.1f} s.")
if r.warning:
    st.warning(f"{upload.name}: {r.warning}.")
if outcome.baseline is not None:
    if not isinstance(reference, neutral_baseline.NeutralBaseline):  # made from the video's first seconds
        neutral_baseline.show_baseline(outcome.baseline, f"the largest face of the first {reference:g} s", "video-first")
    st.caption(neutral_baseline.baseline_caption(outcome.baseline))
st.video(outcome.video, format="video/mp4")
cols = st.columns(3)
cols[0].download_button("Annotated video (MP4)", outcome.video, outcome.stem + ".annotated.mp4", "video/mp4",
                        on_click="ignore", icon=":material/download:")
cols[1].download_button("Per-frame results (CSV)", outcome.csv(), outcome.stem + ".emotions.csv", "text/csv",
                        on_click="ignore", icon=":material/download:")
if outcome.provenance:
    downloads.provenance_button(cols[2], outcome.provenance, outcome.stem + ".emotions.csv")
if outcome.frames_with_face:
    st.plotly_chart(plots.emotion_timeline(outcome.timeline(), model.labels, title="Emotions over time (largest face)"),
                    key="video-timeline")
    st.plotly_chart(plots.emotion_share(outcome.shares(), title="Share of analysed frames per top emotion"),
                    key="video-share")
    people.person_views(outcome.result.rows(), model.labels, "video", outcome.stem)
else:
    st.info("No face was found in the analysed frames.")
