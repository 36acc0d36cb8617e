"""Plotly figure builders for the app: pure functions from data to ``go.Figure``.

Every emotion keeps the colour of its drawn face boxes (:data:`fer_core.inference.draw.EMOTION_COLORS`).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from fer_core.inference.draw import hex_color
from fer_core.common.labels import LABELS


def emotion_colors(labels: Sequence[str] = LABELS) -> dict[str, str]:
    """``{label: "#rrggbb"}`` for Plotly's ``color_discrete_map``."""
    return {label: hex_color(label) for label in labels}


def class_distribution(table: pd.DataFrame, value: str = "count", title: str | None = None) -> go.Figure:
    """Grouped bars per class and split from :func:`fer_core.data.explore.class_distribution`.

    Args:
        value: ``"count"`` or ``"percent"`` (of the split) on the y axis; the other shows on hover.
    """
    if value not in ("count", "percent"):
        raise ValueError(f"value must be 'count' or 'percent', got {value!r}")
    fig = px.bar(table, x="label", y=value, color="split", barmode="group",
                 text=table[value].map(lambda v: f"{v:.1f}%" if value == "percent" else f"{v:,}"),
                 hover_data={"count": True, "percent": ":.1f"}, title=title)
    fig.update_layout(xaxis_title="emotion", yaxis_title="images" if value == "count" else "% of split",
                      legend_title="split")
    return fig


def probabilities(probs: Mapping[str, float], title: str | None = None) -> go.Figure:
    """Horizontal bars of one face's class probabilities, labels in the model's order, top first."""
    labels = list(probs)
    values = [float(probs[k]) for k in labels]
    fig = go.Figure(go.Bar(x=values, y=labels, orientation="h", marker_color=[hex_color(k) for k in labels],
                           text=[f"{v:.0%}" for v in values], textposition="auto"))
    fig.update_layout(title=title, xaxis=dict(range=[0, 1], tickformat=".0%", title="probability"),
                      yaxis=dict(autorange="reversed"), height=260, margin=dict(l=10, r=10, t=40 if title else 10, b=10))
    return fig


def normalise_rows(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (recall per true class); all-zero rows stay zero."""
    matrix = np.asarray(matrix, dtype=np.float64)
    sums = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, sums, out=np.zeros_like(matrix), where=sums > 0)


def confusion_matrix(matrix: Sequence[Sequence[int]] | np.ndarray, labels: Sequence[str],
                     normalise: bool = False, title: str | None = None) -> go.Figure:
    """Heat map of a confusion matrix (rows: true class, columns: predicted), counts or row-normalised."""
    counts = np.asarray(matrix)
    if counts.shape != (len(labels), len(labels)):
        raise ValueError(f"confusion matrix is {counts.shape}, expected {len(labels)}x{len(labels)} for the labels")
    shown = normalise_rows(counts) if normalise else counts
    fig = px.imshow(shown, x=list(labels), y=list(labels), color_continuous_scale="Blues",
                    text_auto=".0%" if normalise else "d", zmin=0, zmax=1 if normalise else None,
                    labels=dict(x="predicted", y="true", color="share of row" if normalise else "images"),
                    title=title, aspect="auto")
    fig.update_xaxes(side="bottom")
    return fig


def training_curves(history: Sequence[Mapping[str, float]]) -> go.Figure:
    """Loss and accuracy per epoch (training and validation) from a model's metadata ``history``."""
    frame = pd.DataFrame(list(history))
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "accuracy"))
    if frame.empty or "epoch" not in frame:
        return fig
    for col, (metric, val) in enumerate((("loss", "val_loss"), ("accuracy", "val_accuracy")), start=1):
        for key, name, dash in ((metric, "training", "solid"), (val, "validation", "dash")):
            if key in frame:
                fig.add_trace(go.Scatter(x=frame["epoch"], y=frame[key], mode="lines+markers", name=f"{name} {metric}",
                                         line=dict(dash=dash)), row=1, col=col)
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(tickformat=".0%", row=1, col=2)
    return fig


def reliability_diagram(calibration: Mapping) -> go.Figure:
    """Accuracy against mean confidence per confidence bin, beside the diagonal of perfect calibration.

    ``calibration`` is the ``{"bins": [...], "ece": float}`` of :func:`fer_core.evaluation.evaluate.reliability_bins`.
    """
    bins = [b for b in calibration.get("bins", []) if b.get("count")]
    centres = [(b["low"] + b["high"]) / 2 for b in bins]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=centres, y=[b["accuracy"] for b in bins], width=[b["high"] - b["low"] for b in bins],
                         name="accuracy", marker_color="#268bd2", customdata=[[b["count"], b["confidence"]] for b in bins],
                         hovertemplate="confidence %{customdata[1]:.2f}<br>accuracy %{y:.2f}<br>%{customdata[0]} faces"))
    fig.add_trace(go.Scatter(x=[b["confidence"] for b in bins], y=[b["accuracy"] for b in bins],
                             mode="markers", name="mean confidence", marker=dict(color="#dc322f")))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration",
                             line=dict(dash="dot", color="grey")))
    ece = calibration.get("ece")
    fig.update_layout(title=f"Reliability (ECE {ece:.3f})" if ece is not None else "Reliability",
                      xaxis=dict(range=[0, 1], title="confidence"), yaxis=dict(range=[0, 1], title="accuracy"))
    return fig


def robustness(report: Mapping) -> go.Figure:
    """Accuracy under each corruption against its severity, beside the clean accuracy.

    ``report`` is the dict of :func:`fer_core.evaluation.corruptions.corruption_report`.
    """
    table = report.get("corruptions", {})
    if not table:
        raise ValueError("the robustness report has no corruptions")
    rows = [{"corruption": name, "severity": int(level), "accuracy": value}
            for name, row in table.items() for level, value in row.items()]
    fig = px.line(pd.DataFrame(rows), x="severity", y="accuracy", color="corruption", markers=True)
    fig.add_hline(y=report["clean"], line_dash="dot", line_color="grey", annotation_text=f"clean {report['clean']:.1%}")
    fig.update_layout(title=f"Accuracy under corruptions (mean {report['mean']:.1%}, {report.get('n', '?')} faces)",
                      xaxis=dict(tickvals=sorted({r["severity"] for r in rows}), title="severity"),
                      yaxis=dict(tickformat=".0%", title="accuracy"))
    return fig


def emotion_timeline(frame: pd.DataFrame, labels: Sequence[str] = LABELS, time_column: str = "time_s",
                     title: str | None = None, marks: Sequence[tuple[float, str]] = ()) -> go.Figure:
    """Probability of each emotion over time, one line per label (rows without a face are gaps); each mark
    ``(time_s, name)`` is a dotted vertical line with its name."""
    present = [label for label in labels if label in frame]
    fig = go.Figure()
    for label in present:
        fig.add_trace(go.Scatter(x=frame[time_column], y=frame[label], mode="lines", name=label,
                                 line=dict(color=hex_color(label)), connectgaps=False))
    for at, name in marks:
        fig.add_vline(x=at, line_dash="dot", line_color="grey", annotation_text=name, annotation_position="top left")
    fig.update_layout(title=title, xaxis_title="time (s)", yaxis=dict(range=[0, 1], tickformat=".0%", title="probability"),
                      legend_title="emotion", height=320, margin=dict(l=10, r=10, t=40 if title else 10, b=10))
    return fig


def emotion_share(shares: Mapping[str, float], title: str | None = None) -> go.Figure:
    """Bars of the share of time (or frames) each emotion was the top one."""
    labels = list(shares)
    values = [float(shares[k]) for k in labels]
    fig = go.Figure(go.Bar(x=labels, y=values, marker_color=[hex_color(k) for k in labels],
                           text=[f"{v:.0%}" for v in values], textposition="auto"))
    fig.update_layout(title=title, yaxis=dict(range=[0, 1], tickformat=".0%", title="share"), height=280,
                      margin=dict(l=10, r=10, t=40 if title else 10, b=10))
    return fig


def intensity_histogram(table: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Pixel-intensity distribution from :func:`fer_core.data.explore.intensity_histogram`, one line per group."""
    groups = list(pd.unique(table["group"]))
    colors = emotion_colors(groups) if set(groups) <= set(LABELS) else None
    fig = px.line(table, x="intensity", y="fraction", color="group", color_discrete_map=colors or {}, title=title)
    fig.update_layout(xaxis=dict(range=[0, 255], title="pixel intensity"), yaxis=dict(tickformat=".1%", title="share of pixels"))
    return fig


def _rgba(label: str, alpha: float) -> str:
    colour = hex_color(label).lstrip("#")
    r, g, b = (int(colour[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def stimulus_curves(curves: pd.DataFrame, labels: Sequence[str] = LABELS, title: str | None = None) -> go.Figure:
    """A study's group curves for one stimulus (:func:`fer_core.study.curves.stimulus_curves` rows): each emotion's
    mean over participants against time from onset, with its 95 % band (none where fewer than two participants)."""
    fig = go.Figure()
    for label in labels:
        rows = curves[curves["emotion"] == label].sort_values("t")
        if rows.empty:
            continue
        band = rows.dropna(subset=["ci_low", "ci_high"])
        if len(band):
            fig.add_trace(go.Scatter(x=list(band["t"]) + list(band["t"])[::-1],
                                     y=list(band["ci_high"]) + list(band["ci_low"])[::-1], fill="toself",
                                     fillcolor=_rgba(label, 0.15), line=dict(width=0), hoverinfo="skip",
                                     legendgroup=label, showlegend=False, name=f"{label} 95% band"))
        fig.add_trace(go.Scatter(x=rows["t"], y=rows["mean"], mode="lines", name=label, legendgroup=label,
                                 line=dict(color=hex_color(label)), customdata=rows["participants"],
                                 hovertemplate="%{y:.1%} (%{customdata} participants)"))
    fig.update_layout(title=title, xaxis_title="time from onset (s)",
                      yaxis=dict(range=[0, 1], tickformat=".0%", title="mean over participants"),
                      legend_title="emotion", height=340, margin=dict(l=10, r=10, t=40 if title else 10, b=10))
    return fig


def stimulus_bars(summary: pd.DataFrame, labels: Sequence[str] = LABELS, title: str | None = None) -> go.Figure:
    """One stimulus's summary rows as bars per emotion: the mean over participants with its 95 % interval."""
    rows = summary.set_index("emotion").reindex([label for label in labels if label in set(summary["emotion"])])
    fig = go.Figure(go.Bar(
        x=rows.index, y=rows["mean"], marker_color=[hex_color(k) for k in rows.index],
        error_y=dict(type="data", symmetric=False, array=(rows["ci_high"] - rows["mean"]).fillna(0),
                     arrayminus=(rows["mean"] - rows["ci_low"]).fillna(0)),
        customdata=rows[["ci_low", "ci_high", "participants"]].to_numpy(),
        hovertemplate="%{y:.1%} [%{customdata[0]:.1%}, %{customdata[1]:.1%}], %{customdata[2]} participants"))
    fig.update_layout(title=title, yaxis=dict(range=[0, 1], tickformat=".0%", title="mean over participants"),
                      height=300, margin=dict(l=10, r=10, t=40 if title else 10, b=10))
    return fig
