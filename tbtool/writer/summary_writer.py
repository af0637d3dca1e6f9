"""``SummaryWriter``: a drop-in for ``torch.utils.tensorboard.SummaryWriter``.

Same constructor, methods, argument names and defaults, same files and events on disk
(format.md §3.4, §4), minus torch's bugs (docs/writer.md lists every difference). This
module holds the ``add_*`` methods; which file an event goes to, and closing, live in
``run_files``. The calling thread only encodes: each ``add_*`` builds the ``Event`` bytes
and queues them for the event file's background thread. ``add_scalar`` builds its bytes
from a per-tag prefix (``scalar``) with ``struct``, which is what makes it cheap.
"""

from __future__ import annotations

import math
import os
import struct
import time
from collections.abc import Mapping
from typing import Any

from tbtool import storage
from tbtool.writer import wire
from tbtool.writer.audio import audio_value
from tbtool.writer.convert import check_tag, to_float, to_step, to_walltime
from tbtool.writer.custom_scalars import custom_scalars_value
from tbtool.writer.embedding import write_embedding
from tbtool.writer.figure import figure_to_image
from tbtool.writer.graph import onnx_graph, torch_graph
from tbtool.writer.histogram import DEFAULT_BINS, histogram_raw_value, histogram_value
from tbtool.writer.hparams import hparams_values
from tbtool.writer.image import check_boxes, image_value
from tbtool.writer.mesh import mesh_values
from tbtool.writer.pr_curve import pr_curve_raw_value, pr_curve_value
from tbtool.writer.run_files import RunFiles
from tbtool.writer.scalar import (
    ScalarPackers,
    float32_bytes,
    scalar_float32,
    scalar_number_bytes,
    simple_value_prefix,
    tensor_scalar_parts,
)
from tbtool.writer.tensor import tensor_value
from tbtool.writer.text import text_value
from tbtool.writer.video import video_value

_now = time.time
_pack_f32 = struct.Struct("<f").pack
_pack_wall_time = struct.Struct("<Bd").pack  # Event.wall_time: key 0x09, double


def _number32(value: Any) -> bytes:
    """float32 bytes of any real scalar (overflowing values become ±inf)."""
    try:
        return float32_bytes(to_float(value, "scalar_value"))
    except OverflowError:  # an int too large for a float
        return float32_bytes(float("inf") if value > 0 else float("-inf"))


class SummaryWriter(RunFiles):
    """Writes entries directly to event files in ``log_dir`` to be consumed by TensorBoard.

    ``log_dir`` defaults to ``runs/<MonDD_HH-MM-SS>_<hostname><comment>``. ``purge_step``
    marks a restart: readers drop earlier events at steps >= it. ``flush_secs``: how often
    the event file is ``fsync``\\ ed. ``max_queue`` is accepted for compatibility: events
    are handed to the writer thread as soon as it can run, and memory is bounded in bytes.
    """

    def __init__(
        self,
        log_dir: str | os.PathLike | None = None,
        comment: str = "",
        purge_step: int | None = None,
        max_queue: int = 10,
        flush_secs: float = 120,
        filename_suffix: str = "",
    ) -> None:
        self._scalar_packers: dict[Any, ScalarPackers] = {}
        self._tensor_parts: dict[Any, tuple[bytes, bytes]] = {}
        self._projector_config: Any = None
        self.default_bins = DEFAULT_BINS.tolist()
        self._torch_bins = self.default_bins
        super().__init__(log_dir, comment, purge_step, max_queue, flush_secs, filename_suffix)

    # -- scalars ------------------------------------------------------------------------------
    def add_scalar(
        self,
        tag: str,
        scalar_value: Any,
        global_step: Any = None,
        walltime: Any = None,
        new_style: bool = False,
        double_precision: bool = False,
    ) -> None:
        """Log one number: ``simple_value`` (float32) by default; with ``new_style`` a
        float32 tensor (float64 with ``double_precision``) of the ``scalars`` plugin."""
        if new_style:
            self._add_tensor_scalar(tag, scalar_value, global_step, walltime, double_precision)
            return
        try:
            packers = self._scalar_packers[tag]
        except (KeyError, TypeError):
            packers = self._scalar_packers[tag] = ScalarPackers(check_tag(tag))
        wall_time = _now() if walltime is None else to_walltime(walltime)
        if type(scalar_value) is not float:
            scalar_value = scalar_float32(scalar_value)
        try:
            if global_step is None:
                payload = packers.no_step(9, wall_time, packers.prefix, scalar_value)
            elif type(global_step) is int and 0 < global_step < 0x200000:
                # Event.step (key 16) as a 1-, 2- or 3-byte varint.
                if global_step < 0x80:
                    payload = packers.step1(
                        9, wall_time, 16, global_step, packers.prefix, scalar_value
                    )
                elif global_step < 0x4000:
                    payload = packers.step2(
                        9,
                        wall_time,
                        16,
                        global_step & 0x7F | 0x80,
                        global_step >> 7,
                        packers.prefix,
                        scalar_value,
                    )
                else:
                    payload = packers.step3(
                        9,
                        wall_time,
                        16,
                        global_step & 0x7F | 0x80,
                        global_step >> 7 & 0x7F | 0x80,
                        global_step >> 14,
                        packers.prefix,
                        scalar_value,
                    )
            else:
                payload = packers.any_step(wall_time, to_step(global_step), scalar_value)
        except OverflowError:  # beyond float32's range: protobuf stores ±inf
            scalar_value = math.copysign(math.inf, scalar_value)
            payload = packers.any_step(
                wall_time, None if global_step is None else to_step(global_step), scalar_value
            )
        events = self._events
        if events._error is not None:
            events = self._events_for_write()
        queue = events._queue
        queue.append(payload)
        if events._idle:
            events.wake()
        if len(queue) > events._max_items:
            events.wait_for_room()

    def _add_tensor_scalar(
        self, tag: Any, scalar_value: Any, global_step: Any, walltime: Any, double: bool
    ) -> None:
        key = (tag, bool(double)) if isinstance(tag, str) else None
        parts = self._tensor_parts.get(key)
        if parts is None:
            parts = self._tensor_parts[key] = tensor_scalar_parts(check_tag(tag), bool(double))
        value = to_float(scalar_value, "scalar_value")
        number = scalar_number_bytes(value, True, bool(double))
        step = None if global_step is None else to_step(global_step)
        wall_time = _now() if walltime is None else to_walltime(walltime)
        self._queue(wire.event_bytes(wall_time, step, parts[0] + number + parts[1]))

    def add_scalars(
        self,
        main_tag: str,
        tag_scalar_dict: Mapping[str, Any],
        global_step: Any = None,
        walltime: Any = None,
    ) -> None:
        """Log several numbers at once, each key into its own run
        ``<log_dir>/<main_tag with / as _>_<key>`` under the tag ``main_tag``."""
        prefix = simple_value_prefix(check_tag(main_tag, "main_tag"))
        if not isinstance(tag_scalar_dict, Mapping):
            raise TypeError(f"tag_scalar_dict must be a dict, not {type(tag_scalar_dict).__name__}")
        numbers = []
        for key, value in tag_scalar_dict.items():
            check_tag(key, "tag_scalar_dict key")
            numbers.append((key, _number32(value)))
        step = None if global_step is None else to_step(global_step)
        wall_time = _now() if walltime is None else to_walltime(walltime)
        head = wire.event_bytes(wall_time, step, b"") + prefix
        fw_logdir = self._get_file_writer().get_logdir()
        writers = [
            (self._sub_writer(fw_logdir + "/" + main_tag.replace("/", "_") + "_" + key), number)
            for key, number in numbers
        ]
        for fw, number in writers:
            fw.event_writer.write(head + number)

    # -- other kinds --------------------------------------------------------------------------
    def _step_and_time(self, global_step: Any, walltime: Any) -> tuple[int | None, Any]:
        step = None if global_step is None else to_step(global_step)
        return step, (None if walltime is None else to_walltime(walltime))

    def add_tensor(
        self, tag: str, tensor: Any, global_step: Any = None, walltime: Any = None
    ) -> None:
        """Log a tensor as it is (plugin ``tensor``; TensorBoard has no dashboard for it)."""
        check_tag(tag)
        step, wall_time = self._step_and_time(global_step, walltime)
        self._add_values([tensor_value(tag, tensor)], step, wall_time)

    def add_histogram(
        self,
        tag: str,
        values: Any,
        global_step: Any = None,
        bins: Any = "tensorflow",
        walltime: Any = None,
        max_bins: Any = None,
    ) -> None:
        """Log a histogram of ``values`` (``bins``: "tensorflow" for torch's default
        exponential edges, or any ``numpy.histogram`` bins)."""
        tag_bytes = check_tag(tag)
        step, wall_time = self._step_and_time(global_step, walltime)
        if isinstance(bins, str) and bins == "tensorflow":
            bins = DEFAULT_BINS if self.default_bins is self._torch_bins else self.default_bins
        value = histogram_value(tag_bytes, values, bins, max_bins)
        self._add_values([value], step, wall_time)

    def add_histogram_raw(
        self,
        tag: str,
        min: Any,
        max: Any,
        num: Any,
        sum: Any,
        sum_squares: Any,
        bucket_limits: Any,
        bucket_counts: Any,
        global_step: Any = None,
        walltime: Any = None,
    ) -> None:
        """Log a histogram from precomputed statistics and buckets."""
        tag_bytes = check_tag(tag)
        step, wall_time = self._step_and_time(global_step, walltime)
        value = histogram_raw_value(
            tag_bytes, min, max, num, sum, sum_squares, bucket_limits, bucket_counts
        )
        self._add_values([value], step, wall_time)

    def add_image(
        self,
        tag: str,
        img_tensor: Any,
        global_step: Any = None,
        walltime: Any = None,
        dataformats: str = "CHW",
    ) -> None:
        """Log an image (PNG). uint8 data is used as is, other dtypes are taken in [0, 1]."""
        check_tag(tag)
        step, wall_time = self._step_and_time(global_step, walltime)
        self._add_values([image_value(tag, img_tensor, dataformats)], step, wall_time)

    def add_images(
        self,
        tag: str,
        img_tensor: Any,
        global_step: Any = None,
        walltime: Any = None,
        dataformats: str = "NCHW",
    ) -> None:
        """Log a batch of images, tiled into one grid image (8 per row)."""
        self.add_image(tag, img_tensor, global_step, walltime, dataformats)

    def add_image_with_boxes(
        self,
        tag: str,
        img_tensor: Any,
        box_tensor: Any,
        global_step: Any = None,
        walltime: Any = None,
        rescale: float = 1,
        dataformats: str = "CHW",
        labels: Any = None,
    ) -> None:
        """Log an image with red boxes ``[N, 4]`` (xmin, ymin, xmax, ymax) and labels."""
        check_tag(tag)
        step, wall_time = self._step_and_time(global_step, walltime)
        boxes = check_boxes(box_tensor)
        if labels is not None:
            if isinstance(labels, str):
                labels = [labels]
            labels = [str(label) for label in labels]
            if len(labels) != boxes.shape[0]:
                labels = None  # torch drops labels that do not match the boxes
        rescale = to_float(rescale, "rescale")
        if not rescale > 0:
            raise ValueError(f"rescale must be positive, got {rescale}")
        value = image_value(
            tag, img_tensor, dataformats, rescale=rescale, boxes=boxes, labels=labels
        )
        self._add_values([value], step, wall_time)

    def add_figure(
        self,
        tag: str,
        figure: Any,
        global_step: Any = None,
        close: bool = True,
        walltime: Any = None,
    ) -> None:
        """Log a matplotlib figure (or a list of them, as a grid) rendered to an image."""
        check_tag(tag)
        self._step_and_time(global_step, walltime)
        dataformats = "NCHW" if isinstance(figure, list) else "CHW"
        self.add_image(tag, figure_to_image(figure, close), global_step, walltime, dataformats)

    def add_video(
        self,
        tag: str,
        vid_tensor: Any,
        global_step: Any = None,
        fps: Any = 4,
        walltime: Any = None,
    ) -> None:
        """Log a batch of clips ``(N, T, C, H, W)`` as one animated GIF."""
        check_tag(tag)
        step, wall_time = self._step_and_time(global_step, walltime)
        self._add_values([video_value(tag, vid_tensor, fps)], step, wall_time)

    def add_audio(
        self,
        tag: str,
        snd_tensor: Any,
        global_step: Any = None,
        sample_rate: Any = 44100,
        walltime: Any = None,
    ) -> None:
        """Log a mono clip (amplitudes in [-1, 1]) as 16-bit WAV."""
        check_tag(tag)
        step, wall_time = self._step_and_time(global_step, walltime)
        self._add_values([audio_value(tag, snd_tensor, sample_rate)], step, wall_time)

    def add_text(
        self, tag: str, text_string: str, global_step: Any = None, walltime: Any = None
    ) -> None:
        """Log Markdown text (tag ``<tag>/text_summary``)."""
        check_tag(tag)
        step, wall_time = self._step_and_time(global_step, walltime)
        self._add_values([text_value(tag, text_string)], step, wall_time)

    def add_onnx_graph(self, prototxt: Any) -> None:
        """Log the graph of an ONNX model file (needs the ``onnx`` package)."""
        graph = onnx_graph(prototxt)
        self._events_checked()
        self._get_file_writer().add_onnx_graph(graph)

    def add_graph(
        self,
        model: Any,
        input_to_model: Any = None,
        verbose: bool = False,
        use_strict_trace: bool = True,
    ) -> None:
        """Log the graph of a torch module, traced with ``input_to_model`` (needs torch)."""
        graph_profile = torch_graph(model, input_to_model, verbose, use_strict_trace)
        self._events_checked()
        self._get_file_writer().add_graph(graph_profile)

    def _events_checked(self) -> None:
        if self._events._error is not None:
            self._events_for_write()

    def add_embedding(
        self,
        mat: Any,
        metadata: Any = None,
        label_img: Any = None,
        global_step: Any = None,
        tag: str = "default",
        metadata_header: Any = None,
    ) -> None:
        """Write an embedding for the projector: files under
        ``<log_dir>/<step:05d>/<tag>/`` and ``<log_dir>/projector_config.pbtxt``."""
        with self._lock:
            logdir = self._get_file_writer().get_logdir()
            self._projector_config = write_embedding(
                logdir,
                self._projector_config,
                mat,
                metadata,
                label_img,
                global_step,
                tag,
                metadata_header,
            )

    def add_pr_curve(
        self,
        tag: str,
        labels: Any,
        predictions: Any,
        global_step: Any = None,
        num_thresholds: int = 127,
        weights: Any = None,
        walltime: Any = None,
    ) -> None:
        """Log a precision-recall curve of ``predictions`` (in [0, 1]) against ``labels``."""
        check_tag(tag)
        step, wall_time = self._step_and_time(global_step, walltime)
        value = pr_curve_value(tag, labels, predictions, num_thresholds, weights)
        self._add_values([value], step, wall_time)

    def add_pr_curve_raw(
        self,
        tag: str,
        true_positive_counts: Any,
        false_positive_counts: Any,
        true_negative_counts: Any,
        false_negative_counts: Any,
        precision: Any,
        recall: Any,
        global_step: Any = None,
        num_thresholds: int = 127,
        weights: Any = None,
        walltime: Any = None,
    ) -> None:
        """Log a precision-recall curve from precomputed counts (``weights`` is unused,
        as in torch)."""
        check_tag(tag)
        step, wall_time = self._step_and_time(global_step, walltime)
        arrays = {
            "true_positive_counts": true_positive_counts,
            "false_positive_counts": false_positive_counts,
            "true_negative_counts": true_negative_counts,
            "false_negative_counts": false_negative_counts,
            "precision": precision,
            "recall": recall,
        }
        self._add_values([pr_curve_raw_value(tag, arrays, num_thresholds)], step, wall_time)

    def add_custom_scalars_multilinechart(
        self, tags: Any, category: str = "default", title: str = "untitled"
    ) -> None:
        """A custom-scalars chart with one line per tag (tags are regexes)."""
        self.add_custom_scalars({category: {title: ["Multiline", tags]}})

    def add_custom_scalars_marginchart(
        self, tags: Any, category: str = "default", title: str = "untitled"
    ) -> None:
        """A custom-scalars chart of a value with lower and upper bounds (3 tags)."""
        if isinstance(tags, str) or not hasattr(tags, "__len__") or len(tags) != 3:
            raise ValueError("tags must be 3 tags: value, lower bound, upper bound")
        self.add_custom_scalars({category: {title: ["Margin", tags]}})

    def add_custom_scalars(self, layout: Mapping[str, Any]) -> None:
        """The custom-scalars dashboard layout ``{category: {title: [kind, tags]}}``."""
        self._add_values([custom_scalars_value(layout)], None, None)

    def add_mesh(
        self,
        tag: str,
        vertices: Any,
        colors: Any = None,
        faces: Any = None,
        config_dict: Any = None,
        global_step: Any = None,
        walltime: Any = None,
    ) -> None:
        """Log a 3-D mesh or point cloud: vertices ``[B, N, 3]``, optional colors and
        faces, and a three.js ``config_dict``."""
        check_tag(tag)
        step, wall_time = self._step_and_time(global_step, walltime)
        self._add_values(mesh_values(tag, vertices, colors, faces, config_dict), step, wall_time)

    def add_hparams(
        self,
        hparam_dict: Mapping[str, Any],
        metric_dict: Mapping[str, Any],
        hparam_domain_discrete: Mapping[str, list[Any]] | None = None,
        run_name: str | None = None,
        global_step: Any = None,
    ) -> None:
        """Log hyperparameters and metrics into a new run ``<log_dir>/<run_name or time>``
        for TensorBoard's HPARAMS dashboard."""
        values = hparams_values(hparam_dict, metric_dict, hparam_domain_discrete)
        metrics = list(metric_dict.items())
        for name, value in metrics:
            check_tag(name, "metric_dict key")
            to_float(value, f"metric_dict[{name!r}]")
        step = None if global_step is None else to_step(global_step)
        if run_name is not None and not isinstance(run_name, str):
            raise TypeError(f"run_name must be a str, not {type(run_name).__name__}")
        if not run_name:
            run_name = str(time.time())
        logdir = storage.join(self._get_file_writer().get_logdir(), run_name)
        with SummaryWriter(log_dir=logdir) as w_hp:
            for value in values:
                w_hp._add_values([value], step, None)
            for name, value in metrics:
                w_hp.add_scalar(name, value, step)
