"""What a synthetic training loop logs besides scalars: at a step (weight histograms, sample
images, audio, notes, pr curves, meshes, tensors), when the run starts (hparams, a
custom-scalars layout) and when it ends, each as the style encodes it (``synth_styles``).

Event faults that replace or add a value (a broken image, a miscounted histogram, a value
holding nothing, a histogram tag logged as a scalar) are made here, where the real value
would have been.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tbtool.ops.synth import shapes
from tbtool.ops.synth.styles import TorchStyle
from tbtool.writer import wire
from tbtool.writer.image import encode_png, to_uint8

IMAGE_TAG, AUDIO_TAG, TEXT_TAG, PR_TAG = "samples/reconstruction", "samples/tone", "notes", "pr/val"
MESH_TAG, TENSOR_TAG, EMPTY_TAG = "point_cloud", "eval/confusion", "samples/video"
#: Which fault stands in for which kind's value.
FAULT_KINDS = {
    "kind-change": "histograms",
    "histogram-counts": "histograms",
    "bad-image": "images",
    "image-size": "images",
}


@dataclass
class Logged:
    """The values of one event, the (tag, kind) series they add to, and the fault they are."""

    values: list[bytes]
    series: list[tuple[str, str]] = field(default_factory=list)
    fault: str | None = None


def simple_value(tag: str, value: float) -> bytes:
    """``Summary.Value{tag, simple_value}``: torch's scalar encoding, whatever the style."""
    return wire.length_delimited(1, tag.encode()) + b"\x15" + struct.pack("<f", value)


def step_events(
    style: TorchStyle,
    due: set[str],
    faults: set[str],
    params: shapes.RunParams,
    horizon: int,
    run: int,
    step: int,
    hist_tags: list[str],
    rngs: dict[str, np.random.Generator],
) -> list[Logged]:
    """The events of the kinds in ``due`` at ``step``, in a training loop's order, with the
    ``faults`` named there in place of (or next to) the values they spoil."""
    n = horizon
    out: list[Logged] = []
    if "histograms" in due:
        rng = rngs["histograms"]
        for layer, tag in enumerate(hist_tags):
            data = shapes.weights(layer, params, step, n, rng)
            if layer == 0 and "kind-change" in faults:
                out.append(Logged([simple_value(tag, float(data.mean()))], [], "kind-change"))
            elif layer == 0 and "histogram-counts" in faults:
                value = style.histogram_miscounted(tag, data)
                out.append(Logged([value], [(tag, "histogram")], "histogram-counts"))
            else:
                out.append(Logged([style.histogram(tag, data)], [(tag, "histogram")]))
    if "images" in due:
        rng = rngs["images"]
        images = [shapes.sample_image(run, step, n, rng, v) for v in range(3)]
        if "bad-image" in faults:
            value = style.image_blob(IMAGE_TAG, b"not an image: " + rng.bytes(32), 32, 32)
            out.append(Logged([value], [(IMAGE_TAG, "image")], "bad-image"))
        elif "image-size" in faults:
            png = encode_png(to_uint8(images[0].transpose(1, 2, 0)))
            value = style.image_blob(IMAGE_TAG, png, 64, 64)
            out.append(Logged([value], [(IMAGE_TAG, "image")], "image-size"))
        else:
            out.append(Logged([style.images(IMAGE_TAG, images)], [(IMAGE_TAG, "image")]))
    if "audio" in due:
        clip = shapes.tone(run, step, n, rngs["audio"])
        value = style.audio(AUDIO_TAG, clip, shapes.SAMPLE_RATE)
        out.append(Logged([value], [(AUDIO_TAG, "audio")]))
    if "text" in due:
        value = style.text(TEXT_TAG, shapes.note(params, step, n))
        out.append(Logged([value], [(style.text_tag(TEXT_TAG), "text")]))
    if "pr_curves" in due:
        labels, predictions = shapes.pr_inputs(step, n, rngs["pr_curves"])
        value = style.pr_curve(PR_TAG, labels, predictions, shapes.PR_THRESHOLDS)
        out.append(Logged([value], [(PR_TAG, "pr_curve")]))
    if "mesh" in due:
        vertices, colors = shapes.point_cloud(step, n)
        values = style.mesh(MESH_TAG, vertices, colors)
        out.append(Logged(values, [(tag, "mesh") for tag in style.mesh_tags(MESH_TAG)]))
    if "tensors" in due:
        matrix = shapes.confusion(step, n, rngs["tensors"])
        out.append(Logged([style.tensor(TENSOR_TAG, matrix)], [(TENSOR_TAG, "tensor")]))
    if "empty-value" in faults:  # what torch's add_video writes without a working moviepy
        out.append(Logged([wire.length_delimited(1, EMPTY_TAG.encode())], [], "empty-value"))
    return out


def run_start(
    style: TorchStyle,
    kinds: set[str],
    params: shapes.RunParams,
    scalar_tags: list[str],
    first: bool,
) -> tuple[list[Logged], list[Logged]]:
    """(events when the run starts, events when it ends): hparams (metrics: the run's
    validation scalars) and, in the first run, a custom-scalars layout of its scalars."""
    start: list[Logged] = []
    end: list[Logged] = []
    if "hparams" in kinds:
        metrics = [t for t in shapes.METRIC_TAGS if t in scalar_tags]
        begin, finish = style.hparams(params.hparams(), metrics, shapes.DOMAINS)
        tags = ("_hparams_/experiment", "_hparams_/session_start_info")
        start += [Logged([v], [(t, "hparams")]) for v, t in zip(begin, tags, strict=True)]
        end += [Logged([v], [("_hparams_/session_end_info", "hparams")]) for v in finish]
    if "custom_scalars" in kinds and first:
        value = style.custom_scalars(layout(scalar_tags))
        start.append(Logged([value], [("custom_scalars__config__", "custom_scalars")]))
    return start, end


def layout(scalar_tags: list[str]) -> dict[str, Any]:
    """Losses in one chart and accuracies in another (torch's layout dict)."""
    charts: dict[str, Any] = {}
    losses = [t for t in scalar_tags if t.startswith("loss/")]
    accuracies = [t for t in scalar_tags if t.startswith("accuracy/")]
    if losses:
        charts["losses"] = ["Multiline", losses]
    if accuracies:
        charts["accuracy"] = ["Multiline", accuracies]
    return {"training": charts or {"all scalars": ["Multiline", [".*"]]}}
