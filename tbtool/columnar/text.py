"""Text of many numbers at once: ``dump``'s lines built from columns, not one call per value.

Printing a million scalars one ``repr`` at a time costs more than reading them. Here floats,
integers and times become Arrow string arrays with array operations, in exactly the layout
Python gives one at a time:

* :func:`float_reprs`: ``repr(float)`` (Python's shortest round-trip digits, positional
  between 1e-4 and 1e16, else ``1e-05`` style); values written as float32 get the shortest
  digits that read back as the same float32 (``0.2``, not ``0.20000000298023224``), as
  :func:`tbtool.values.typed.float32_repr` does for one value. Arrow's cast gives the shortest
  digits; this module only lays them out as Python does.
* :func:`iso_times`: ``dump``'s UTC times with milliseconds (``2023-11-14T22:13:21.000Z``),
  rounded as ``datetime.fromtimestamp`` rounds.
* :func:`json_strings`: ``json.dumps`` of a few distinct strings, to be taken per row.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def _shortest(values: np.ndarray, float32: np.ndarray) -> pa.StringArray:
    """Arrow's shortest round-trip text of each value (at float32 where ``float32``)."""
    as64 = pa.array(values, type=pa.float64()).cast(pa.string())
    if not float32.any():
        return as64
    with np.errstate(over="ignore"):  # rows that are not float32 may not fit one
        narrow = values.astype(np.float32)
    as32 = pa.array(narrow, type=pa.float32()).cast(pa.string())
    if float32.all():
        return as32
    return pc.if_else(pa.array(float32), as32, as64)


def float_reprs(values: np.ndarray, float32: np.ndarray | None = None) -> pa.StringArray:
    """``repr(float(x))`` of every value; rows where ``float32`` is set at float32's shortest
    digits (the text of :func:`tbtool.values.typed.float32_repr`).

    Arrow's text has the right digits; only its layout differs from Python's, and only in
    ways the text and the magnitude tell apart: whole numbers lack ``.0``; exponents have one
    digit where Python pads to two; and Arrow's switch between positional and exponent form
    is not Python's (which is: exponent form below 1e-4 and from 1e16 on). Rows in the last
    case are few and are laid out by Python itself, from Arrow's digits.
    """
    values = np.asarray(values, dtype=np.float64)
    if float32 is None:
        float32 = np.zeros(len(values), dtype=bool)
    text = _shortest(values, float32)
    if not len(values):
        return text
    with np.errstate(invalid="ignore"):
        magnitude = np.abs(values)
        finite = np.isfinite(values)
        python_exp = finite & (((magnitude < 1e-4) & (magnitude != 0)) | (magnitude >= 1e16))
        # A float32's shortest digits may cross a boundary its float64 value does not
        # (float32(1e-4) is 9.99999974737875e-05 but prints as 0.0001): ask the text.
        near = float32 & finite & (_near(magnitude, 1e-4) | _near(magnitude, 1e16))
        if near.any():
            rows = np.flatnonzero(near)
            shown = np.abs(np.asarray(text.take(pa.array(rows)).cast(pa.float64())))
            python_exp[rows] = (shown < 1e-4) | (shown >= 1e16)
        whole = finite & ~python_exp & (values == np.floor(values))
    has_e = np.asarray(pc.match_substring(text, "e"), dtype=bool)
    fixes: list[tuple[np.ndarray, pa.Array]] = []

    def fix(mask: np.ndarray, change: Callable[[pa.StringArray], pa.Array]) -> None:
        rows = np.flatnonzero(mask)
        if len(rows):
            fixes.append((rows, change(text.take(pa.array(rows)))))

    fix(whole & ~has_e, lambda t: pc.binary_join_element_wise(t, ".0", ""))
    # RE2's rewrite: group 1, a "0", group 2.
    fix(has_e & python_exp, lambda t: pc.replace_substring_regex(t, r"e([+-])([0-9])$", r"e\10\2"))
    fix(~has_e & python_exp & (magnitude < 1e-4), _exponent_form)
    fix(finite & has_e & ~python_exp, _python_layout)  # rare: 1e15 <= |x| < 1e16
    if not fixes:
        return text
    rows = np.concatenate([r for r, _ in fixes])
    return _put(text, rows, pa.concat_arrays([t.cast(pa.string()) for _, t in fixes]))


def _near(magnitude: np.ndarray, boundary: float) -> np.ndarray:
    """Within a float32 rounding step of ``boundary``."""
    return np.abs(magnitude - boundary) <= boundary * 2.0**-22


def _python_layout(text: pa.StringArray) -> pa.StringArray:
    """Python's own layout of Arrow's digits, one value at a time (for the few rows where
    the two disagree on positional versus exponent form)."""
    return pa.array([repr(float(t)) for t in text.to_pylist()], type=pa.string())


def _exponent_form(text: pa.StringArray) -> pa.StringArray:
    """``-0.000012`` as ``-1.2e-05``: Arrow's positional text of a number below 1e-4 in
    Python's exponent form (only rows of that shape are used by the caller)."""
    negative = pc.starts_with(text, "-")
    fraction = pc.utf8_slice_codeunits(pc.utf8_ltrim(text, "-"), 2)  # after "0."
    digits = pc.utf8_ltrim(fraction, "0")
    zeros = np.asarray(pc.subtract(pc.utf8_length(fraction), pc.utf8_length(digits)))
    rest = pc.utf8_slice_codeunits(digits, 1)
    dotted = pc.if_else(
        pc.greater(pc.utf8_length(rest), 0), pc.binary_join_element_wise(".", rest, ""), ""
    )
    exponent = pc.utf8_lpad(integers(zeros + 1), 2, "0")
    return join_columns(
        [
            pc.if_else(negative, "-", ""),
            pc.utf8_slice_codeunits(digits, 0, 1),
            dotted,
            "e-",
            exponent,
        ]
    )


#: Wall times ``datetime`` can show (years 1 to 9999).
_MIN_TIME, _MAX_TIME = -62135596800.0, 253402300800.0


def iso_times(wall_time: np.ndarray, fallback: Callable[[float], str]) -> pa.StringArray:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` of each wall time, as ``datetime.fromtimestamp`` rounds
    (microseconds half to even, then cut to milliseconds); ``fallback(t)`` for times a
    ``datetime`` cannot hold. Dates are formatted once per distinct day, the time of day from
    integer parts."""
    wall_time = np.asarray(wall_time, dtype=np.float64)
    ok = np.isfinite(wall_time) & (wall_time >= _MIN_TIME) & (wall_time < _MAX_TIME)
    safe = np.where(ok, wall_time, 0.0)
    fraction, whole = np.modf(safe)
    millis = (
        whole.astype(np.int64) * 1_000_000 + np.round(fraction * 1e6).astype(np.int64)
    ) // 1000
    day, in_day = np.divmod(millis, 86_400_000)
    days, day_index = np.unique(day, return_inverse=True)
    epoch = datetime(1970, 1, 1)
    dates = pa.array(
        [(epoch + timedelta(days=int(d))).strftime("%Y-%m-%dT") for d in days.tolist()],
        type=pa.string(),
    )
    if len(dates) and len(dates[0].as_py()) != 11:  # platform strftime without padded years
        dates = pa.array([_padded_date(int(d)) for d in days.tolist()], type=pa.string())
    seconds, ms = np.divmod(in_day, 1000)
    minutes, sec = np.divmod(seconds, 60)
    hour, minute = np.divmod(minutes, 60)
    out = join_columns(
        [
            dates.take(pa.array(day_index.reshape(-1))),
            _TWO_DIGITS.take(pa.array(hour)),
            ":",
            _TWO_DIGITS.take(pa.array(minute)),
            ":",
            _TWO_DIGITS.take(pa.array(sec)),
            ".",
            _THREE_DIGITS.take(pa.array(ms)),
            "Z",
        ]
    )
    if ok.all():
        return out
    bad = np.flatnonzero(~ok)
    patched = pa.array([fallback(float(t)) for t in wall_time[bad]], type=pa.string())
    return _put(out, bad, patched)


_TWO_DIGITS = pa.array([f"{i:02d}" for i in range(100)], type=pa.string())
_THREE_DIGITS = pa.array([f"{i:03d}" for i in range(1000)], type=pa.string())


def _padded_date(day: int) -> str:
    d = datetime(1970, 1, 1) + timedelta(days=day)
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}T"


def _put(base: pa.StringArray, rows: np.ndarray, values: pa.StringArray) -> pa.StringArray:
    """``base`` with ``rows`` replaced by ``values``."""
    combined = pa.concat_arrays([base, values])
    take = np.arange(len(base))
    take[rows] = len(base) + np.arange(len(rows))
    return combined.take(pa.array(take))


def runs_of_equal(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(firsts, expand)``: the first row of each run of equal consecutive values, and per
    row the index of its run, so text made for ``values[firsts]`` is taken back per row
    (several values of one event share its wall time and step)."""
    if not len(values):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    change = np.empty(len(values), dtype=bool)
    change[0] = True
    np.not_equal(values[1:], values[:-1], out=change[1:])
    return np.flatnonzero(change), np.cumsum(change) - 1


def json_strings(strings: Sequence[str]) -> pa.StringArray:
    """``json.dumps`` of each string (quoted and escaped), to be taken per row."""
    return pa.array([json.dumps(s) for s in strings], type=pa.string())


def json_numbers(values: np.ndarray, float32: np.ndarray | None = None) -> pa.StringArray:
    """JSON text of floats as ``json.dumps(json_float(x))`` gives it: numbers in ``repr``
    layout, non-finite ones as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``."""
    text = float_reprs(values, float32)
    finite = np.isfinite(values)
    if finite.all():
        return text
    names = {"nan": '"NaN"', "inf": '"Infinity"', "-inf": '"-Infinity"'}
    bad = np.flatnonzero(~finite)
    patched = [
        names["nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")]
        for x in values[bad].tolist()
    ]
    return _put(text, bad, pa.array(patched, type=pa.string()))


def integers(values: np.ndarray) -> pa.StringArray:
    """Decimal text of integers."""
    return pa.array(np.asarray(values, dtype=np.int64)).cast(pa.string())


def join_columns(pieces: Sequence[pa.Array | str]) -> pa.StringArray:
    """Row-wise concatenation of string arrays and constant strings."""
    args = [pa.scalar(p, type=pa.string()) if isinstance(p, str) else p for p in pieces]
    return pc.binary_join_element_wise(*args, "")
