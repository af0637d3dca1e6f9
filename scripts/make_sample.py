"""Write the built-in sample logdir shipped in ``tbtool/sample/logdir`` (deterministic).

Two runs of a pretend training job, in the encodings torch's SummaryWriter uses: scalars
(``simple_value``), a histogram (``HistogramProto``), text (``text`` plugin); the second run
crashed and resumed with ``purge_step=60``, so its file pair shows restart semantics.

    python scripts/make_sample.py
"""

from __future__ import annotations

import math
import random
import shutil
from pathlib import Path

from tbtool.format.record import RecordWriter
from tbtool.proto import event_pb2, histogram_pb2, summary_pb2

OUT = Path(__file__).resolve().parent.parent / "tbtool" / "sample" / "logdir"
T0 = 1_700_000_000.0
TEXT_METADATA = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="text")
)


def event(step: int, wall_time: float, **what) -> bytes:
    return event_pb2.Event(step=step, wall_time=wall_time, **what).SerializeToString()


def summary(step: int, wall_time: float, *values) -> bytes:
    return event(step, wall_time, summary=summary_pb2.Summary(value=list(values)))


def scalar(tag: str, value: float):
    return summary_pb2.Summary.Value(tag=tag, simple_value=value)


def histogram(tag: str, samples: list[float]):
    edges = [-3.0 + 0.5 * i for i in range(13)]
    counts = [0.0] * len(edges)
    for x in samples:
        i = next((k for k, e in enumerate(edges) if x <= e), len(edges) - 1)
        counts[i] += 1
    proto = histogram_pb2.HistogramProto(
        min=min(samples),
        max=max(samples),
        num=len(samples),
        sum=sum(samples),
        sum_squares=sum(x * x for x in samples),
        bucket_limit=edges,
        bucket=counts,
    )
    return summary_pb2.Summary.Value(tag=tag, histo=proto)


def text(tag: str, s: str):
    from tbtool.proto import tensor_pb2

    tensor = tensor_pb2.TensorProto(dtype=7, string_val=[s.encode()])
    tensor.tensor_shape.dim.add(size=1)
    return summary_pb2.Summary.Value(tag=tag, tensor=tensor, metadata=TEXT_METADATA)


def write_file(path: Path, wall_time: float, records: list[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with RecordWriter(path) as w:
        w.write(event(0, wall_time, file_version="brain.Event:2"))
        for r in records:
            w.write(r)


def training(rng: random.Random, lr: float, steps: range, t0: float, shift: float = 0.0):
    out = []
    for step in steps:
        t = t0 + step * 2.0
        loss = 2.0 * math.exp(-lr * step / 10) + 0.05 * rng.random() + shift
        out.append(summary(step, t, scalar("loss/train", loss)))
        if step % 10 == 0:
            out.append(summary(step, t, scalar("loss/val", loss * 1.1)))
            out.append(summary(step, t, scalar("accuracy", 1 - loss / 2.5)))
            weights = [rng.gauss(0, 1 / (1 + step / 50)) for _ in range(200)]
            out.append(summary(step, t, histogram("weights/layer1", weights)))
    return out


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    rng = random.Random(0)
    baseline = training(rng, 0.3, range(100), T0)
    baseline.insert(0, summary(0, T0, text("notes/text_summary", "baseline run")))
    write_file(OUT / "baseline" / "events.out.tfevents.1700000000.sample.1.0", T0, baseline)

    first = training(rng, 0.5, range(75), T0, shift=0.02)
    write_file(OUT / "lr_0.05" / "events.out.tfevents.1700000000.sample.2.0", T0, first)
    t1 = T0 + 400
    resumed = [
        event(60, t1, file_version="brain.Event:2"),
        event(60, t1, session_log=event_pb2.SessionLog(status=event_pb2.SessionLog.START)),
        summary(60, t1, text("notes/text_summary", "resumed from checkpoint at step 60")),
        *training(rng, 0.5, range(60, 100), t1 - 120),
    ]
    write_file(OUT / "lr_0.05" / "events.out.tfevents.1700000400.sample.3.0", t1, resumed)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
