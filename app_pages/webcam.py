"""Live webcam: emotions of the faces in your camera stream, a live timeline and a session summary."""
import os
import time

import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from fer_core.reports import plots
from fer_core.reports import timeline
from fer_core.inference.rows import rows_to_csv
from fer_core.inference.live_baseline import COLLECTING
from ui import live, neutral_baseline, people, sidebar

STREAM_KEY = "webcam"  # the component's key; its context lives in st.session_state[STREAM_KEY]
REDRAW_S = 1.0  # charts redraw at most once a second; the label text more often
LABEL_S = 0.2
WINDOW_S = 60.0  # the live timeline shows the last minute

settings = sidebar.current(webcam=True)
st.title("Live webcam")
st.markdown("Press **Start** and allow camera access: each frame is analysed on the server and sent back "
            "with the faces boxed and labelled. Below: the current emotion, a live timeline and a summary "
            "of the session, downloadable as CSV after you stop.")

model, detector = sidebar.require_pipeline(settings, live=True)
st.caption(f"Live path: model **{model.name}** on **{model.runtime_label}**, without test-time augmentation, "
           f"{sidebar.live_detector_text(settings)}; labels are smoothed over frames. Choose another model in the "
           "sidebar. Frames are processed in memory and never written to disk.")


def secret_ice_servers():
    try:
        return st.secrets.get(live.ICE_ENV)
    except Exception:  # no secrets file: Streamlit raises its own error types
        return None


try:
    rtc = live.rtc_configuration(secret_ice_servers(), os.environ.get(live.ICE_ENV))
except ValueError as exc:
    st.error(f"{exc}. Using no ICE servers (works on this machine and local networks only).")
    rtc = dict(live.LOCAL_RTC)

# One analyser per browser session (its temporal EMA is per stream); model and detector are shared.
# Its key leaves out min_confidence: the slider only changes drawing and is applied in place.
session = live.live_session(model, detector, (str(settings.live_model_dir), settings.detector),
                            settings.min_confidence)

# At most $FER_MAX_STREAMS streams per server process; a Start pressed while none is free joins a queue.
try:
    slots = live.shared_slots()
except ValueError as exc:
    st.error(f"{exc}. The live webcam is off until it is fixed.")
    st.stop()
owner = live.session_owner()
admission = live.admit(slots, owner, live.stream_requested(st.session_state.get(STREAM_KEY)))
if not admission.can_start:  # queued, or idle while no slot is free for this session (Start joins the queue)
    live.waiting_room(slots, owner, queued=live.waiting(admission))
elif admission.position:  # first in the queue, and a slot is free: its turn, while it lasts
    live.turn_notice(slots, owner)

# The callbacks run in streamlit-webrtc's worker threads (no st.* in there); only the newest frame is
# analysed. desired_playing_state=False hides Start while queued and stops a stream that holds no slot.
ctx = webrtc_streamer(key=STREAM_KEY, mode=WebRtcMode.SENDRECV, rtc_configuration=rtc,
                      media_stream_constraints={"video": True, "audio": False},
                      desired_playing_state=False if live.waiting(admission) else None,
                      queued_video_frames_callback=session.queued_callback if admission.granted else live.unanalysed,
                      on_video_ended=live.on_stream_ended(session, slots, owner, admission.ticket))

recording = live.recording()
history = recording.history
current, status = st.empty(), st.empty()
# The neutral baseline: the analyser collects and applies it in the worker thread; this page starts and shows it.
baseline_panel = neutral_baseline.webcam_panel(session.analyzer.baseline, admission.granted and ctx.state.playing)
shown_baseline = session.analyzer.baseline.status()
neutral_baseline.show_status(baseline_panel, shown_baseline)
chart, summary = st.empty(), st.empty()


def draw(rows, key, window=None):
    frame = timeline.timeline(rows, model.labels)
    shown = frame[frame["time_s"] >= frame["time_s"].max() - window] if window and len(frame) else frame
    chart.plotly_chart(plots.emotion_timeline(shown, model.labels, title="Emotion probabilities (main face)",
                                              marks=recording.marks), key=f"{key}-timeline")
    share = timeline.shares(frame, model.labels)
    summary.plotly_chart(plots.emotion_share(share, title="Share of the session per top emotion"), key=f"{key}-share")
    return frame, share


if admission.granted and ctx.state.playing:  # (a stream without a slot is being stopped by the browser)
    recording.begin()  # a new stream: a new history
    name_col, mark_col = st.columns([3, 1], vertical_alignment="bottom")
    marker_name = name_col.text_input("Event marker", placeholder=f"Mark {len(recording.marks) + 1}",
                                      help="A name for what starts now (a stimulus, a task); Mark notes it at this "
                                           "moment on the timeline, in its CSV and in a study's markers.csv.")
    if mark_col.button("Mark", icon=":material/flag:") and recording.mark(marker_name, time.time()) is not None:
        st.toast(f"Marked {recording.marks[-1][1]} at {recording.marks[-1][0]:.1f} s")
    last_label, last_draw, redraws = 0.0, 0.0, 0
    current.caption("Waiting for the first frame…")
    while ctx.state.playing:  # ends when a rerun (e.g. Stop) interrupts the script
        live.keep_slot(slots, owner)  # the heartbeat that keeps this stream's slot
        now_baseline = session.analyzer.baseline.status()
        if now_baseline != shown_baseline:
            if shown_baseline.state == COLLECTING and now_baseline.state != COLLECTING:
                st.rerun()  # finished: redraw the panel with its download
            neutral_baseline.show_status(baseline_panel, now_baseline)
            shown_baseline = now_baseline
        batch = session.drain(timeout=1.0)
        if not batch:
            # Also a Streamlit call each second: only at such calls can a rerun (Stop) end this loop.
            current.caption("Waiting for frames…")
            continue
        recording.add(batch, model.labels)
        if time.monotonic() - last_label >= LABEL_S:
            current.markdown(recording.current_text())
            status.caption(f"{recording.analysed} frames analysed on the server, "
                           f"{history[-1]['fps']:.1f} fps")
            last_label = time.monotonic()
        if time.monotonic() - last_draw >= REDRAW_S:
            redraws += 1
            draw(history, f"live-{redraws}", WINDOW_S)
            last_draw = time.monotonic()
    slots.release(owner)  # the stream has stopped
else:  # stopped (the stream's end reset its analyser, live.on_stream_ended): keep the history to read
    recording.end()

if not history:
    current.info("No session yet." if live.waiting(admission) else "No session yet: press Start above.")
    st.stop()
if not ctx.state.playing:
    current.markdown(recording.current_text("Last"))
frame, share = draw(history, "final")
st.caption(f"{len(frame)} frames over {frame['time_s'].max():.1f} s.")
cols = st.columns(3)
cols[0].download_button("Timeline (CSV)", recording.csv(), "webcam-timeline.csv", "text/csv",
                        on_click="ignore", icon=":material/download:")
cols[1].download_button("Session summary (CSV)", rows_to_csv(timeline.shares_table(share)),
                        "webcam-summary.csv", "text/csv", on_click="ignore", icon=":material/download:")
if recording.marks:
    cols[2].download_button("Markers (markers.csv)", recording.markers_csv(), "markers.csv", "text/csv",
                            on_click="ignore", icon=":material/flag:",
                            help="The marks as a study's markers.csv: each opens a window that the next one closes")
people.person_views(history, model.labels, "webcam", "webcam")
