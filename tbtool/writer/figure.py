"""matplotlib figures rendered to RGB images (torch's ``figure_to_image``). matplotlib is
imported only when a figure is logged."""

from __future__ import annotations

from typing import Any

import numpy as np


def _render(figure: Any, close: bool) -> np.ndarray:
    import matplotlib.backends.backend_agg as backend_agg
    import matplotlib.pyplot as plt

    if not hasattr(figure, "canvas") or not hasattr(figure, "get_size_inches"):
        raise TypeError(f"figure must be a matplotlib Figure, not {type(figure).__name__}")
    canvas = backend_agg.FigureCanvasAgg(figure)
    canvas.draw()
    data = np.frombuffer(canvas.buffer_rgba(), dtype=np.uint8)
    width, height = figure.canvas.get_width_height()
    image_chw = np.moveaxis(data.reshape([height, width, 4])[:, :, 0:3], 2, 0)
    if close:
        plt.close(figure)
    return image_chw


def figure_to_image(figures: Any, close: bool = True) -> np.ndarray:
    """CHW uint8 for one figure, NCHW for a list of figures (all the same size)."""
    if isinstance(figures, list):
        if not figures:
            raise ValueError("figure is an empty list")
        images = [_render(f, close) for f in figures]
        if len({i.shape for i in images}) != 1:
            raise ValueError("the figures of a list must all have the same size in pixels")
        return np.stack(images)
    return _render(figures, close)
