"""How a series of scalar values becomes one number: ``last``, ``min``, ``max``, ``mean`` or
``best``, and the ``TAG=AGG`` metric specs that choose one per metric.

``summary``, ``report`` and the hparams table (``export --kind hparams``) share these rules,
so "the best validation loss" means the same number everywhere:

* ``last``: the last value in read order (after purge semantics), NaN included: a run whose
  loss ended in NaN should show it;
* ``min`` / ``max``: NaN ignored, the first step where it was reached;
* ``mean``: NaN ignored;
* ``best``: ``min`` for tags that name a quantity where lower is better (loss, error,
  perplexity, MSE/MAE, NLL, cost, regret, latency: :data:`LOWER_IS_BETTER`), else ``max``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tbtool.errors import UsageError

AGGREGATES = ("last", "min", "max", "mean", "best")

#: Tag names matching this are "lower is better" (``best`` is their ``min``).
LOWER_IS_BETTER = re.compile(r"loss|err|perplexity|ppl|mse|mae|nll|cost|regret|latency", re.I)


def lower_is_better(tag: str) -> bool:
    """Whether ``best`` of this tag is its minimum (see :data:`LOWER_IS_BETTER`)."""
    return LOWER_IS_BETTER.search(tag) is not None


def resolve(agg: str, tag: str) -> str:
    """``best`` as ``min`` or ``max`` for ``tag``; any other aggregate unchanged."""
    check_aggregate(agg)
    if agg == "best":
        return "min" if lower_is_better(tag) else "max"
    return agg


def check_aggregate(agg: str) -> str:
    if agg not in AGGREGATES:
        raise UsageError(f"unknown aggregate {agg!r}; choose from {', '.join(AGGREGATES)}")
    return agg


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """``TAG=AGG`` as a user wrote it: ``pattern`` is a tag or a glob pattern of tags."""

    pattern: str
    agg: str = "last"

    @classmethod
    def parse(cls, text: str) -> MetricSpec:
        """``"loss/val=min"``, ``"loss/*=best"`` or ``"accuracy"`` (its last value). A tag
        that itself holds ``=`` is taken whole unless what follows the last ``=`` is an
        aggregate."""
        tag, sep, agg = text.rpartition("=")
        if sep and agg in AGGREGATES and tag:
            return cls(tag, agg)
        if sep and not tag:
            raise UsageError(f"metric {text!r}: expected TAG=AGG")
        return cls(text)

    def matches(self, tag: str) -> bool:
        return fnmatch.fnmatchcase(tag, self.pattern)

    def __str__(self) -> str:
        return f"{self.pattern}={self.agg}"


def parse_metrics(specs: Sequence[str | MetricSpec]) -> list[MetricSpec]:
    """Metric specs from strings (or specs), in the order given."""
    return [s if isinstance(s, MetricSpec) else MetricSpec.parse(s) for s in specs]


def metric_aggregates(specs: Sequence[str | MetricSpec]) -> dict[str, str]:
    """``{pattern: aggregate}`` of specs (the form :class:`~tbtool.reading.hparams.HParamsCollector`
    takes); a pattern given twice keeps its last aggregate."""
    return {s.pattern: s.agg for s in parse_metrics(specs)}


def aggregate(
    values: np.ndarray, steps: np.ndarray, agg: str, tag: str
) -> tuple[float, int | None]:
    """``(value, step)`` of one series in read order; the step is where the value was logged
    (``None`` for ``mean`` and for a series with no finite value under ``min``/``max``)."""
    agg = resolve(agg, tag)
    if not len(values):
        return float("nan"), None
    if agg == "last":
        return float(values[-1]), int(steps[-1])
    finite = ~np.isnan(values)
    if not finite.any():
        return float("nan"), None
    if agg == "mean":
        return float(values[finite].mean()), None
    masked = np.where(finite, values, np.inf if agg == "min" else -np.inf)
    at = int(np.argmin(masked) if agg == "min" else np.argmax(masked))
    return float(values[at]), int(steps[at])
