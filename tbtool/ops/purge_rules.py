"""Which summary values a rewrite drops, decided on arrays (one :class:`FileTable` at a time).

The rules of ``purge`` and ``merge`` (contract.md "purge semantics", format.md §5.6):

* ``step``: values with step >= N (of the selected tags), except graphs, run metadata,
  hparams and custom-scalar layouts, which describe a run rather than a step;
* ``start``: a SessionLog START at step T drops earlier values of the run with step >= T
  (:meth:`~tbtool.runs.purge.PurgeFilter.keeps_many`);
* ``rewind``: a value at step s drops earlier values *of its tag* with step >= s (what
  TensorBoard's Rust data server shows), vectorized per tag over the whole run.

Restarts never drop the kinds of :data:`~tbtool.runs.purge.UNPURGED_KINDS`. A value the normalizer
turns into nothing (kind ``K_SKIP``) is purgeable, as it always was.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from tbtool.columnar.pieces import K_SKIP, K
from tbtool.columnar.run_table import UNPURGED, FileTable
from tbtool.runs.purge import UNPURGED_KINDS, PurgeFilter

#: ``--step`` keeps these besides graphs: they are written once, at step 0, and describe a run.
STEP_KEPT_KINDS = UNPURGED_KINDS | {"hparams", "custom_scalars"}
STEP_KEPT = np.zeros(K_SKIP + 1, dtype=bool)
STEP_KEPT[[K[k] for k in STEP_KEPT_KINDS if k in K]] = True


def step_drops(table: FileTable, step: int, tag_ok: Callable[[int], bool]) -> np.ndarray:
    """``--step N [--tag]``: per value of the table, dropped? (``tag_ok`` of a run tag id)."""
    if not len(table.v_rec):
        return np.zeros(0, dtype=bool)
    selected = np.array([tag_ok(t) for t in range(int(table.v_tag.max()) + 1)], dtype=bool)
    return (table.v_step >= step) & ~STEP_KEPT[table.v_kind] & selected[table.v_tag]


def start_drops(table: FileTable, purge: PurgeFilter) -> np.ndarray:
    """Restart semantics: per value, erased by a START that comes after it?"""
    if not purge or not len(table.v_rec):
        return np.zeros(len(table.v_rec), dtype=bool)
    kept = purge.keeps_many(table.number, table.r_index[table.v_rec], table.v_step)
    return ~kept & ~UNPURGED[table.v_kind]


def rewind_drops(tables: Sequence[FileTable]) -> list[np.ndarray]:
    """Rustboard's rule over a whole run: per value of each table, is there a later value
    of its tag (in read order) with a step <= its own? Purgeable kinds only."""
    counts = [len(t.v_rec) for t in tables]
    drops = np.zeros(sum(counts), dtype=bool)
    if len(drops):
        tag = np.concatenate([t.v_tag for t in tables])
        step = np.concatenate([t.v_step for t in tables])
        purgeable = np.flatnonzero(~UNPURGED[np.concatenate([t.v_kind for t in tables])])
        drops[purgeable] = _later_step_not_above(tag[purgeable], step[purgeable])
    return np.split(drops, np.cumsum(counts)[:-1])


def _later_step_not_above(tag: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Per element (in read order): does a later element of the same tag have a step <= its
    own? Sorted by tag (stable), steps become dense ranks offset by the tag's group so that
    one reversed running minimum never crosses from one tag into another."""
    n = len(tag)
    if not n:
        return np.zeros(0, dtype=bool)
    order = np.argsort(tag, kind="stable")
    tags = tag[order]
    group = np.r_[0, np.cumsum(tags[1:] != tags[:-1])].astype(np.int64)
    uniq, rank = np.unique(step[order], return_inverse=True)
    key = rank.astype(np.int64) + group * len(uniq)  # later groups: larger keys
    suffix_min = np.minimum.accumulate(key[::-1])[::-1]
    dropped = np.zeros(n, dtype=bool)
    same_tag_after = group[1:] == group[:-1]
    dropped[:-1] = same_tag_after & (key[:-1] >= suffix_min[1:])
    out = np.empty(n, dtype=bool)
    out[order] = dropped
    return out
