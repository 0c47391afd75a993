"""Plotly figures shared by pages. Figures take plain data; they never query anything."""
from __future__ import annotations

from html import escape

import pandas as pd
import plotly.graph_objects as go

CALM_SCALE = [[0.0, "#f7fbff"], [1.0, "#2171b5"]]


def plotly_text(text: str) -> str:
    """User text for a figure: Plotly reads `<b>`, `<i>`, `<br>` and `<a href>` in axis labels and titles,
    and decodes entities, so escaped text shows exactly as written."""
    return escape(text, quote=True)


def loss_chart(frame: pd.DataFrame) -> go.Figure:
    figure = go.Figure()
    train = frame.dropna(subset=["Training Loss"])
    val = frame.dropna(subset=["Validation Loss"])
    figure.add_scatter(x=train["Step"], y=train["Training Loss"], mode="lines+markers", name="Training loss")
    if len(val):
        figure.add_scatter(x=val["Step"], y=val["Validation Loss"], mode="markers", name="Validation loss",
                           marker={"size": 10, "symbol": "diamond"})
    figure.update_layout(height=280, margin={"l": 10, "r": 10, "t": 10, "b": 10}, xaxis_title="Step",
                         yaxis_title="Loss", legend={"orientation": "h", "y": -0.3})
    return figure


def confusion_heatmap(matrix: list[list[int]], names: list[str], normalized: bool, title: str = "") -> go.Figure:
    counts = [list(map(int, row)) for row in matrix]
    if normalized:
        values = [[c / sum(row) if sum(row) else 0.0 for c in row] for row in counts]
        text = [[f"{v:.0%}<br>({c})" for v, c in zip(vrow, crow)] for vrow, crow in zip(values, counts)]
    else:
        values = counts
        text = [[str(c) for c in row] for row in counts]
    figure = go.Figure(go.Heatmap(
        z=values, x=[f"pred: {plotly_text(n)}" for n in names], y=[f"true: {plotly_text(n)}" for n in names], text=text,
        texttemplate="%{text}", colorscale=CALM_SCALE, showscale=False, hoverinfo="skip",
    ))
    figure.update_yaxes(autorange="reversed")
    figure.update_layout(height=120 + 70 * len(names), margin={"l": 10, "r": 10, "t": 30 if title else 10, "b": 10},
                         title=title or None)
    return figure


def precision_recall_chart(curve: pd.DataFrame, threshold: float | None) -> go.Figure:
    figure = go.Figure()
    figure.add_scatter(x=curve["threshold"], y=curve["precision"], mode="lines", name="precision (label 1)",
                       line={"shape": "hv"})
    figure.add_scatter(x=curve["threshold"], y=curve["recall"], mode="lines", name="recall (label 1)",
                       line={"shape": "hv"})
    if threshold is not None:
        figure.add_vline(x=threshold, line_dash="dash", line_color="#555")
    figure.update_layout(height=300, margin={"l": 10, "r": 10, "t": 10, "b": 10}, xaxis_title="threshold on P(label 1)",
                         yaxis_range=[0, 1.05], legend={"orientation": "h", "y": -0.3})
    return figure


def learning_curve_chart(points: list[dict]) -> go.Figure:
    figure = go.Figure(go.Scatter(
        x=[p["n_labels"] for p in points], y=[p["accuracy"] for p in points], mode="lines+markers",
        text=[f"{p['fraction']:.0%}" for p in points], hovertemplate="%{x} labels (%{text}): %{y:.3f}<extra></extra>",
    ))
    figure.update_layout(height=280, margin={"l": 10, "r": 10, "t": 10, "b": 10}, xaxis_title="labelled training sentences",
                         yaxis_title="test accuracy")
    return figure


def reliability_chart(bins: tuple[tuple[float, float, int], ...]) -> go.Figure:
    """Reliability diagram: per confidence bin, the share right against the mean confidence; on the
    diagonal, confidence means what it says. Marker size follows the number of sentences."""
    figure = go.Figure()
    figure.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="confidence = accuracy",
                       line={"dash": "dot", "color": "#999999"})
    largest = max((n for _, _, n in bins), default=1)
    figure.add_scatter(x=[c for c, _, _ in bins], y=[a for _, a, _ in bins], mode="lines+markers", name="this version",
                       marker={"size": [8 + 16 * n / largest for _, _, n in bins], "color": "#2171b5"},
                       text=[f"{n} sentences" for _, _, n in bins], hovertemplate="confidence %{x:.2f}<br>right %{y:.2f}<br>%{text}")
    figure.update_layout(height=300, margin={"l": 10, "r": 10, "t": 10, "b": 10}, xaxis_title="Confidence",
                         yaxis_title="Share right", xaxis_range=[0, 1.02], yaxis_range=[0, 1.02],
                         legend={"orientation": "h", "y": -0.3})
    return figure
