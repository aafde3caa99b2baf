"""A matplotlib figure as the SVG text the report's page embeds, the same bytes on every run."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def figure_svg(figure) -> str:
    """The figure's ``<svg>`` element (the XML prologue dropped); the figure is closed."""
    # A fixed hash salt and no date make matplotlib's SVG byte-identical across runs.
    with matplotlib.rc_context({"svg.hashsalt": "epiclock", "svg.fonttype": "path"}):
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg"):]
