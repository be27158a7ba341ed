"""Matplotlib figures as inline SVG strings: reliability diagrams, coverage curves, score bars."""

from __future__ import annotations

import io
import logging
import re
import warnings
from collections.abc import Sequence

SERIES_STYLE = {
    "model": {"color": "#1f5fa8", "ls": "-", "marker": "o"},
    "fp32": {"color": "#7a4fa8", "ls": ":", "marker": "^"},
    "against": {"color": "#a85f1f", "ls": "-.", "marker": "s"},
    "baseline": {"color": "#888888", "ls": "--", "marker": "x"},
}


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    plt.rcParams.update(
        {
            "svg.fonttype": "none",
            "font.size": 9,
            "svg.hashsalt": "xinfang",
            "font.family": ["sans-serif"],
            "font.sans-serif": ["WenQuanYi Micro Hei", "Noto Sans CJK SC", "DejaVu Sans"],
        }
    )
    return plt


def _svg(fig, plt) -> str:
    buf = io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg") :]  # drop the XML declaration and DOCTYPE for inline use
    return re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)


def reliability_svg(series: dict[str, list[dict]], title: str = "") -> str:
    """Reliability diagram: accuracy against mean confidence per bin, one line per series."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(3.6, 3.2))
    ax.plot([0, 1], [0, 1], color="#cccccc", lw=1, label="perfect")
    for name, bins in series.items():
        if bins:
            st = SERIES_STYLE.get(name, {})
            ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], label=name, **st)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(alpha=0.3)
    return _svg(fig, plt)


def coverage_svg(series: dict[str, list[dict]], route_threshold: float | None = None, title: str = "") -> str:
    """Coverage (share routed automatically) and accuracy among them as the threshold moves."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.4, 3.2))
    for name, curve in series.items():
        if not curve:
            continue
        st = dict(SERIES_STYLE.get(name, {}))
        st.pop("ls", None)
        st.pop("marker", None)
        t = [c["threshold"] for c in curve]
        ax.plot(t, [c["coverage"] for c in curve], ls="-", label=f"{name} coverage", **st)
        acc = [c["accuracy"] if c["accuracy"] is not None else float("nan") for c in curve]
        ax.plot(t, acc, ls="--", label=f"{name} accuracy", **st)
    if route_threshold is not None:
        ax.axvline(
            route_threshold, color="#c0392b", lw=1, ls=":", label=f"route threshold {route_threshold:.2f}"
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("auto-route confidence threshold")
    ax.set_ylabel("share")
    ax.set_title(title)
    ax.legend(fontsize=6.5, loc="lower left")
    ax.grid(alpha=0.3)
    return _svg(fig, plt)


def bars_svg(
    labels: Sequence[str],
    series: dict[str, Sequence[float | None]],
    ylabel: str = "macro-F1",
    title: str = "",
) -> str:
    """Grouped bars: one group per label, one bar per series (model, baseline, ...)."""
    plt = _plt()
    n = max(len(series), 1)
    fig, ax = plt.subplots(figsize=(max(3.6, 0.9 * len(labels) + 1.5), 3.0))
    width = 0.8 / n
    for k, (name, values) in enumerate(series.items()):
        xs = [i + (k - (n - 1) / 2) * width for i in range(len(labels))]
        vals = [v if v is not None else 0.0 for v in values]
        ax.bar(xs, vals, width=width, label=name, color=SERIES_STYLE.get(name, {}).get("color"))
        for x, v in zip(xs, values, strict=True):
            if v is not None:
                ax.text(x, v + 0.01, f"{v:.2f}", ha="center", va="bottom", fontsize=6.5)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=20, ha="right", fontsize=7)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    return _svg(fig, plt)
