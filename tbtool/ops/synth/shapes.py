"""What synthetic training logs look like: the numbers behind ``tbtool synth``.

A run draws hyperparameters (optimizer, learning rate, batch size, ...) and every series
follows from them: losses decay with noise towards a floor that a badly chosen learning rate
raises, accuracies rise, the learning rate warms up and follows a cosine schedule, gradient
norms shrink with occasional spikes, weight histograms drift and widen, sample images get
sharper and pr curves better as training progresses.

Scalar series are pure functions of the step plus noise drawn from the caller's generator,
so any block of steps can be produced on its own (the bulk writer produces millions of steps
a block at a time). ``progress`` is step / horizon in [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Scalar tags in the order ``--num-tags N`` takes them; beyond these, ``metric/NN``.
SCALAR_TAGS = (
    "loss/train",
    "loss/val",
    "accuracy/val",
    "learning_rate",
    "accuracy/train",
    "grad_norm",
    "throughput/samples_per_sec",
)
#: hparams metrics: the validation series when the run logs them.
METRIC_TAGS = ("loss/val", "accuracy/val")

OPTIMIZERS = ("adam", "adamw", "sgd")
LEARNING_RATES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
BATCH_SIZES = (32, 64, 128, 256)
DROPOUTS = (0.0, 0.1, 0.3)
#: ``hparam_domain_discrete``: the values each hyperparameter is drawn from.
DOMAINS: dict[str, list[Any]] = {
    "optimizer": list(OPTIMIZERS),
    "batch_size": list(BATCH_SIZES),
    "dropout": list(DROPOUTS),
    "batch_norm": [False, True],
}

IMAGE_SIZE = 32
SAMPLE_RATE = 8000
PR_THRESHOLDS = 127


def scalar_tags(n: int) -> list[str]:
    """The first ``n`` scalar tags."""
    extra = [f"metric/{i:02d}" for i in range(max(0, n - len(SCALAR_TAGS)))]
    return [*SCALAR_TAGS[:n], *extra]


def histogram_tags(n_scalar_tags: int) -> list[str]:
    """One weight histogram per layer: half as many as scalar tags (at least one)."""
    return [f"weights/layer{i}" for i in range(max(1, (n_scalar_tags + 1) // 2))]


@dataclass(frozen=True)
class RunParams:
    """A run's hyperparameters and the constants of its curves derived from them."""

    optimizer: str
    learning_rate: float
    batch_size: int
    dropout: float
    batch_norm: bool

    @classmethod
    def draw(cls, rng: np.random.Generator) -> RunParams:
        return cls(
            optimizer=OPTIMIZERS[int(rng.integers(len(OPTIMIZERS)))],
            learning_rate=LEARNING_RATES[int(rng.integers(len(LEARNING_RATES)))],
            batch_size=BATCH_SIZES[int(rng.integers(len(BATCH_SIZES)))],
            dropout=DROPOUTS[int(rng.integers(len(DROPOUTS)))],
            batch_norm=bool(rng.integers(2)),
        )

    def hparams(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer,
            "learning_rate": self.learning_rate,
            "batch_size": self.batch_size,
            "dropout": self.dropout,
            "batch_norm": self.batch_norm,
        }

    @property
    def quality(self) -> float:
        """1 at the best learning rate (1e-3), lower either side; batch norm helps."""
        q = 1 - 0.18 * abs(math.log10(self.learning_rate) + 3)
        return min(1.0, q + (0.05 if self.batch_norm else 0.0))

    @property
    def speed(self) -> float:
        """How fast the losses fall over the whole run."""
        return 3 + 2.5 * min(self.learning_rate / 1e-3, 4) ** 0.5 * (
            1.2 if self.optimizer != "sgd" else 0.8
        )

    @property
    def floor(self) -> float:
        """The loss the run converges to."""
        return 0.08 + 0.45 * (1 - self.quality) + 0.1 * self.dropout

    @property
    def noise(self) -> float:
        """Relative step-to-step noise of the training loss."""
        return 0.03 + 4 * self.learning_rate + 0.3 / self.batch_size**0.5


def progress(steps: np.ndarray, horizon: int) -> np.ndarray:
    return steps / max(1, horizon - 1)


def learning_rate(p: RunParams, steps: np.ndarray, horizon: int) -> np.ndarray:
    """Linear warm-up over the first 5% of the run, then cosine decay to 1% of the peak."""
    x = progress(steps, horizon)
    warm = np.minimum(1.0, (x + 1e-3) / 0.05)
    cosine = 0.01 + 0.99 * 0.5 * (1 + np.cos(math.pi * np.clip((x - 0.05) / 0.95, 0, 1)))
    return p.learning_rate * np.where(x < 0.05, warm, cosine)


def _decay(p: RunParams, x: np.ndarray, start: float, floor: float, rate: float) -> np.ndarray:
    return floor + (start - floor) * np.exp(-p.speed * rate * x)


def scalar_series(
    tag_index: int, p: RunParams, steps: np.ndarray, horizon: int, rng: np.random.Generator
) -> np.ndarray:
    """Values of scalar tag ``tag_index`` (see :data:`SCALAR_TAGS`) at ``steps``."""
    x = progress(steps, horizon)
    n = len(steps)
    if tag_index == 0:  # loss/train
        clean = _decay(p, x, 2.3, p.floor, 1.0)
        return clean * np.exp(rng.normal(0, p.noise, n))
    if tag_index == 1:  # loss/val: smoother, higher, overfits late without dropout
        clean = _decay(p, x, 2.3, p.floor * 1.2, 0.9)
        overfit = (0.4 - p.dropout) * np.maximum(0.0, x - 0.7) ** 2
        return (clean + overfit) * np.exp(rng.normal(0, p.noise * 0.25, n))
    if tag_index == 2:  # accuracy/val
        top = 0.96 - 0.3 * (1 - p.quality)
        clean = 0.1 + (top - 0.1) * (1 - np.exp(-p.speed * x))
        return np.clip(clean + rng.normal(0, p.noise * 0.1, n), 0, 1)
    if tag_index == 3:
        return learning_rate(p, steps, horizon)
    if tag_index == 4:  # accuracy/train
        top = 0.99 - 0.3 * (1 - p.quality)
        clean = 0.1 + (top - 0.1) * (1 - np.exp(-p.speed * 1.1 * x))
        return np.clip(clean + rng.normal(0, p.noise * 0.3, n), 0, 1)
    if tag_index == 5:  # grad_norm: shrinking, log-normal noise, rare spikes
        spikes = np.where(rng.random(n) < 0.002, 6.0, 1.0)
        return (0.4 + 4 * np.exp(-3 * x)) * np.exp(rng.normal(0, 0.25, n)) * spikes
    if tag_index == 6:  # throughput/samples_per_sec
        base = 900 * (p.batch_size / 64) ** 0.3
        return base * (1 + rng.normal(0, 0.02, n))
    k = tag_index - len(SCALAR_TAGS)  # metric/NN: slow waves and a trend
    phase = (k * 0.618) % 1
    return (
        0.5
        + 0.3 * np.sin(2 * math.pi * (x * (1 + k % 3) + phase))
        + 0.1 * x
        + rng.normal(0, 0.02, n)
    )


def weights(layer: int, p: RunParams, step: int, horizon: int, rng: np.random.Generator):
    """1000 weights of a layer: a spreading bell with a second mode that drifts away."""
    x = float(progress(np.array(step), horizon))
    scale = 0.1 / (1 + layer) ** 0.5 * (1 + 0.8 * x)
    main = rng.normal(0.02 * layer * x, scale, 800)
    drifting = rng.normal((0.15 + 0.05 * layer) * x * (1 if layer % 2 == 0 else -1), scale, 200)
    return np.concatenate([main, drifting])


def sample_image(run: int, step: int, horizon: int, rng: np.random.Generator, variant: int = 0):
    """CHW float image in [0, 1]: a colour pattern emerging from noise as training goes on."""
    x = float(progress(np.array(step), horizon))
    sharp = 1 - math.exp(-4 * x)
    yy, xx = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE] / IMAGE_SIZE
    r = np.hypot(xx - 0.5, yy - 0.5)
    pattern = np.stack(
        [
            0.5 + 0.5 * np.sin(2 * math.pi * (xx * (2 + run % 3) + variant * 0.25)),
            0.5 + 0.5 * np.cos(2 * math.pi * yy * (1 + variant)),
            0.5 + 0.5 * np.cos(12 * r + run),
        ]
    )
    noise = rng.random(pattern.shape)
    return np.clip(sharp * pattern + (1 - sharp) * noise, 0, 1)


def tone(run: int, step: int, horizon: int, rng: np.random.Generator) -> np.ndarray:
    """A quarter second of a tone whose hiss fades as training goes on, in [-1, 1]."""
    x = float(progress(np.array(step), horizon))
    t = np.arange(SAMPLE_RATE // 4) / SAMPLE_RATE
    signal = 0.6 * np.sin(2 * math.pi * 220 * (1 + run % 4) * t)
    return np.clip(signal + 0.35 * math.exp(-4 * x) * rng.normal(0, 1, len(t)), -1, 1)


def pr_inputs(step: int, horizon: int, rng: np.random.Generator):
    """(labels, predictions) of 256 examples; the classifier separates them better with time."""
    x = float(progress(np.array(step), horizon))
    labels = (rng.random(256) < 0.4).astype(np.float64)
    margin = 0.3 + 3.5 * (1 - math.exp(-4 * x))
    logits = (2 * labels - 1) * margin + rng.normal(0, 1, 256)
    return labels, 1 / (1 + np.exp(-logits))


def point_cloud(step: int, horizon: int):
    """(vertices, colors) ``[1, 200, 3]``: a sphere that grows lobes; colours from normals."""
    x = float(progress(np.array(step), horizon))
    i = np.arange(200) + 0.5
    phi = np.arccos(1 - 2 * i / 200)
    theta = math.pi * (1 + 5**0.5) * i
    normals = np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], 1)
    radius = 1 + 0.3 * x * np.sin(3 * theta) * np.sin(phi)
    vertices = normals * radius[:, None]
    colors = np.round((normals + 1) * 127.5)
    return vertices[None].astype(np.float32), colors[None].astype(np.float32)


def confusion(step: int, horizon: int, rng: np.random.Generator) -> np.ndarray:
    """A 3-class confusion matrix (int32, 100 examples per class) growing diagonal."""
    x = float(progress(np.array(step), horizon))
    hit = 0.34 + 0.6 * (1 - math.exp(-4 * x))
    rows = []
    for _ in range(3):
        right = int(rng.binomial(100, hit))
        wrong = int(rng.integers(0, 100 - right + 1))
        rows.append([right, wrong, 100 - right - wrong])
    matrix = np.array(rows, dtype=np.int32)
    for c in range(3):  # put each class's hits on the diagonal
        matrix[c] = np.roll(matrix[c], c)
    return matrix


def note(p: RunParams, step: int, horizon: int) -> str:
    """A Markdown line a training script might log."""
    lr = float(learning_rate(p, np.array([step]), horizon)[0])
    pct = 100 * float(progress(np.array(step), horizon))
    return (
        f"**step {step}** ({pct:.0f}% of the run): {p.optimizer}, learning rate {lr:.3g}, "
        f"batch size {p.batch_size}; checkpoint saved"
    )
