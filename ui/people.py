"""Per-person views of a video or a live session: a summary table, a filter to one person and
one emotion timeline per person (the numbers come from :mod:`fer_core.reports.timeline`)."""
from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from fer_core.reports import plots
from fer_core.reports import timeline
from fer_core.inference.rows import rows_to_csv
from fer_core.inference.tracking import person_name

#: the filter's choice that shows every person
EVERYONE = "Everyone"
#: at most this many timelines when everyone is shown (those longest on screen): a long stream
#: with passers-by must not fill the page with charts
MAX_TIMELINES = 6


def person_views(rows: Sequence[dict], labels: Sequence[str], key: str, stem: str) -> None:
    """The per-person section: a filter, the summary table (with a CSV download) and the timelines.

    ``key`` keeps widget keys apart between pages; ``stem`` names the downloaded file.
    """
    summary = timeline.person_summary(rows, labels)
    if summary.empty:
        return
    st.subheader("People")
    st.caption("Each person keeps one ID (P1, P2, …) from frame to frame, as long as they are out of sight "
               "for less than about a second. Time on screen, the most frequent top emotion and each "
               "emotion's share of that person's time:")
    choice = st.selectbox("Show", [EVERYONE, *summary["person"].tolist()], key=f"{key}-person",
                          format_func=lambda p: p if p == EVERYONE else person_name(p))
    shown = summary if choice == EVERYONE else summary[summary["person"] == choice]
    table = shown.assign(person=shown["person"].map(person_name))
    st.dataframe(table, hide_index=True, key=f"{key}-people-table",
                 column_config={label: st.column_config.NumberColumn(format="percent") for label in labels})
    st.download_button("Per-person summary (CSV)", rows_to_csv(table), f"{stem}.people.csv", "text/csv",
                       on_click="ignore", icon=":material/download:", key=f"{key}-people-csv")
    longest = shown.sort_values("seconds", ascending=False, kind="stable")["person"].tolist()
    if len(longest) > MAX_TIMELINES:
        st.caption(f"Timelines of the {MAX_TIMELINES} people longest on screen; choose one above for another.")
    for person in sorted(longest[:MAX_TIMELINES]):
        st.plotly_chart(plots.emotion_timeline(timeline.person_timeline(rows, labels, person), labels,
                                               title=f"{person_name(person)}: emotions over time"),
                        key=f"{key}-timeline-{person_name(person)}")
