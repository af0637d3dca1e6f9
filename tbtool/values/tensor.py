"""Decoding ``TensorProto`` into numpy arrays, for every dtype and every writer's quirks.

Rules (format.md §2.5, TB ``tensor_util.make_ndarray``): non-empty ``tensor_content`` wins
(little-endian, row-major); otherwise the dtype's typed field; a typed field shorter than the
shape is padded with its last element (one element broadcasts to the whole shape). Writers
disagree on a few fields, so a value found in another typed field is accepted too (torch puts
uint8 in ``uint32_val``), and torch's half/bfloat16 ``half_val`` holding float32 bit
patterns is recognised (format.md §4.4).

Padding is bounded by :func:`tbtool.values.limits.value_limit` of the serialized tensor, so a few
bytes declaring a huge shape cannot make a reader allocate gigabytes; beyond it the tensor
does not decode (:class:`TensorTooLarge`). A padded string counts its length once per
element: each becomes its own object when printed or exported.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tbtool.errors import TbtoolError
from tbtool.values import limits

# DataType enum values (format.md §2.5).
DT_FLOAT, DT_DOUBLE, DT_INT32, DT_UINT8, DT_INT16, DT_INT8, DT_STRING = 1, 2, 3, 4, 5, 6, 7
DT_COMPLEX64, DT_INT64, DT_BOOL, DT_QINT8, DT_QUINT8, DT_QINT32 = 8, 9, 10, 11, 12, 13
DT_BFLOAT16, DT_QINT16, DT_QUINT16, DT_UINT16, DT_COMPLEX128, DT_HALF = 14, 15, 16, 17, 18, 19
DT_UINT32, DT_UINT64 = 22, 23

#: What a padded string element costs beyond its length: an object pointer and a Python
#: object header.
STRING_ELEMENT_BYTES = 64

#: dtype enum -> (name, numpy dtype of the decoded array, typed field holding the values)
DTYPES: dict[int, tuple[str, Any, str]] = {
    DT_FLOAT: ("float32", np.float32, "float_val"),
    DT_DOUBLE: ("float64", np.float64, "double_val"),
    DT_INT32: ("int32", np.int32, "int_val"),
    DT_UINT8: ("uint8", np.uint8, "int_val"),
    DT_INT16: ("int16", np.int16, "int_val"),
    DT_INT8: ("int8", np.int8, "int_val"),
    DT_STRING: ("string", object, "string_val"),
    DT_COMPLEX64: ("complex64", np.complex64, "scomplex_val"),
    DT_INT64: ("int64", np.int64, "int64_val"),
    DT_BOOL: ("bool", np.bool_, "bool_val"),
    DT_QINT8: ("qint8", np.int8, "int_val"),
    DT_QUINT8: ("quint8", np.uint8, "int_val"),
    DT_QINT32: ("qint32", np.int32, "int_val"),
    DT_BFLOAT16: ("bfloat16", np.float32, "half_val"),
    DT_QINT16: ("qint16", np.int16, "int_val"),
    DT_QUINT16: ("quint16", np.uint16, "int_val"),
    DT_UINT16: ("uint16", np.uint16, "int_val"),
    DT_COMPLEX128: ("complex128", np.complex128, "dcomplex_val"),
    DT_HALF: ("float16", np.float16, "half_val"),
    DT_UINT32: ("uint32", np.uint32, "uint32_val"),
    DT_UINT64: ("uint64", np.uint64, "uint64_val"),
}

_TYPED_FIELDS = (
    "float_val",
    "double_val",
    "int_val",
    "int64_val",
    "bool_val",
    "half_val",
    "uint32_val",
    "uint64_val",
    "scomplex_val",
    "dcomplex_val",
    "string_val",
)


class TensorDecodeError(TbtoolError):
    """A TensorProto whose contents do not fit its dtype and shape."""


class TensorTooLarge(TensorDecodeError):
    """A TensorProto whose shape asks for more memory than :mod:`tbtool.values.limits` allows a
    value of its size (intact perhaps, but not decoded)."""


def dtype_name(dtype: int) -> str:
    """``"float32"``, ``"string"``... or ``"DT_<n>"`` for types numpy cannot hold."""
    entry = DTYPES.get(dtype)
    return entry[0] if entry else f"DT_{dtype}"


def tensor_shape(tensor: Any) -> tuple[int, ...] | None:
    """The declared shape; ``None`` when the rank is unknown or a dim is unknown (-1)."""
    shape = tensor.tensor_shape
    if shape.unknown_rank:
        return None
    dims = tuple(int(d.size) for d in shape.dim)
    return None if any(d < 0 for d in dims) else dims


def shape_text(shape: tuple[int, ...]) -> str:
    """A shape for a message: its dims, or the first 8 and how many there are (a record may
    declare a million)."""
    if len(shape) <= 8:
        return str(list(shape))
    return f"[{', '.join(map(str, shape[:8]))}, ... ({len(shape)} dims)]"


def _half_bits_to_float(values: list[int], dtype: int) -> tuple[np.ndarray, bool]:
    """16-bit patterns stored in int32s -> floats; detects torch's float32-pattern quirk."""
    bits = np.asarray(values, dtype=np.int64)
    if bits.size and (bits.max() > 0xFFFF or bits.min() < 0):
        # torch's half_to_int stored the float32 bit pattern of each value (format.md §4.4).
        return (bits & 0xFFFFFFFF).astype(np.uint32).view(np.float32), True
    if dtype == DT_BFLOAT16:
        return (bits.astype(np.uint32) << 16).view(np.float32), False
    return bits.astype(np.uint16).view(np.float16), False


def _typed_values(tensor: Any, dtype: int) -> tuple[np.ndarray, bool]:
    """The elements from the typed field (or any non-empty one) and whether torch's half
    quirk was seen."""
    _name, np_dtype, field = DTYPES[dtype]
    values = getattr(tensor, field)
    if not len(values):
        # Numbers stand in for numbers only: strings are not numbers, nor numbers strings.
        strings = field == "string_val"
        for other in _TYPED_FIELDS:
            if (
                other != field
                and (other == "string_val") == strings
                and len(getattr(tensor, other))
            ):
                field, values = other, getattr(tensor, other)
                break
    if field == "half_val":
        array, quirk = _half_bits_to_float(list(values), dtype)
        if dtype not in (DT_HALF, DT_BFLOAT16):
            array = array.astype(np_dtype)
        return array, quirk
    if field == "string_val":
        array = np.empty(len(values), dtype=object)
        array[:] = list(values)
        return array, False
    if field in ("scomplex_val", "dcomplex_val"):
        pairs = np.asarray(values, dtype=np.float64).reshape(-1, 2)
        return (pairs[:, 0] + 1j * pairs[:, 1]).astype(np_dtype), False
    return np.asarray(values).astype(np_dtype), False


def decode_tensor(tensor: Any) -> tuple[np.ndarray, bool]:
    """Decode a TensorProto into ``(array, torch_half_quirk)``.

    DT_HALF arrays come back as float16, DT_BFLOAT16 as float32 (numpy has no bfloat16),
    strings as an object array of ``bytes``. Raises :class:`TensorDecodeError` for dtypes
    numpy cannot hold, for contents that do not match the shape and for shapes no numpy
    array has (more than 64 dims; an empty shape whose other dims overflow 64 bits).
    """
    flat, quirk, shape = _elements(tensor)
    if shape is None:
        return flat, quirk
    try:
        return flat.reshape(shape), quirk
    except ValueError as e:
        raise TensorDecodeError(
            f"{dtype_name(tensor.dtype)} tensor of shape {shape_text(shape)} is no numpy array: {e}"
        ) from None


def decode_elements(tensor: Any) -> tuple[np.ndarray, bool]:
    """The elements of :func:`decode_tensor` in row-major order, without the shape: what a
    scalar needs from a one-element tensor of any rank (numpy holds at most 64 dims, the
    bulk decoders read a scalar from any number of dims of size 1)."""
    flat, quirk, _ = _elements(tensor)
    return flat, quirk


def _elements(tensor: Any) -> tuple[np.ndarray, bool, tuple[int, ...] | None]:
    """``(flat elements, torch_half_quirk, shape)``; a typed field shorter than the shape
    is padded (within the limit)."""
    dtype = int(tensor.dtype)
    if dtype not in DTYPES:
        raise TensorDecodeError(f"unsupported tensor dtype {dtype_name(dtype)}")
    name, np_dtype, _ = DTYPES[dtype]
    shape = tensor_shape(tensor)
    content = tensor.tensor_content
    quirk = False
    if content and dtype != DT_STRING:
        if dtype == DT_BFLOAT16:
            flat = (np.frombuffer(content, "<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            itemsize = np.dtype(np_dtype).itemsize
            if len(content) % itemsize:
                raise TensorDecodeError(
                    f"{len(content)} bytes of tensor_content is not a whole number of "
                    f"{name} elements"
                )
            flat = np.frombuffer(content, np.dtype(np_dtype).newbyteorder("<")).astype(np_dtype)
    else:
        flat, quirk = _typed_values(tensor, dtype)
    if shape is None:
        return flat, quirk, shape
    size = math.prod(shape)
    if flat.size == size:
        return flat, quirk, shape
    if 0 < flat.size < size and not content:
        _check_padding(tensor, name, shape, flat, size)
        return np.concatenate([flat, np.repeat(flat[-1:], size - flat.size)]), quirk, shape
    raise TensorDecodeError(
        f"{name} tensor of shape {shape_text(shape)} holds {flat.size} elements, expected {size}"
    )


def _check_padding(
    tensor: Any, name: str, shape: tuple[int, ...], flat: np.ndarray, size: int
) -> None:
    """:class:`TensorTooLarge` unless padding ``flat`` to ``size`` elements stays within the
    limit for this tensor's serialized size."""
    fill = flat[-1]
    each = STRING_ELEMENT_BYTES + len(fill) if flat.dtype == object else flat.itemsize
    why = limits.too_large(
        f"{name} tensor of shape {shape_text(shape)} lists {flat.size} element(s); "
        "filling its shape",
        (size - flat.size) * each,
        tensor.ByteSize(),
    )
    if why is not None:
        raise TensorTooLarge(why)


def element_count(tensor: Any) -> int | None:
    """Number of elements the shape declares (``None`` if unknown)."""
    shape = tensor_shape(tensor)
    return None if shape is None else math.prod(shape)
