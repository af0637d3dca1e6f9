"""Turning what users log (numbers, lists, numpy, torch and JAX arrays) into numpy.

torch is never imported here: an object can only be a torch tensor if the caller already
imported torch, so ``sys.modules`` tells us whether to look. JAX arrays (and anything else
with ``__array__``) go through ``numpy.asarray``; their bfloat16 is ml_dtypes' numpy type.
Errors name the argument they are about, so ``add_image(..., img_tensor=x)`` failing says
``img_tensor`` rather than something about numpy.
"""

from __future__ import annotations

import math
import numbers
import sys
from typing import Any

import numpy as np

#: numpy dtype kinds that hold real numbers.
REAL_KINDS = "biuf"


def is_torch_tensor(value: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def _torch_to_numpy(value: Any, name: str, *, keep_bits: bool = False) -> np.ndarray:
    """A torch tensor on any device, with or without grad, as numpy. bfloat16 becomes
    float32 (torch's own writer goes through float16, which overflows above 65504), or with
    ``keep_bits`` its 16-bit patterns as uint16; complex32 becomes complex64."""
    import torch  # already imported by the caller: value is a torch.Tensor

    t = value.detach()
    if t.device.type == "meta":
        raise ValueError(f"{name} is a tensor on the 'meta' device, which holds no data")
    if t.is_sparse:
        t = t.to_dense()
    if t.is_quantized:
        t = t.dequantize()
    t = t.cpu().resolve_conj().resolve_neg()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(np.uint16) if keep_bits else t.float().numpy()
    if t.dtype == torch.complex32:
        t = t.to(torch.complex64)
    try:
        return t.numpy()
    except TypeError as e:
        raise TypeError(f"{name} has a dtype numpy cannot hold ({t.dtype}): {e}") from None


def is_bfloat16(array: np.ndarray) -> bool:
    """ml_dtypes' bfloat16 (what JAX arrays of that type become in numpy)."""
    return array.dtype.name == "bfloat16"


def to_numpy(value: Any, name: str, *, keep_bits: bool = False) -> np.ndarray:
    """Any array-like as a numpy array (no copy when it already is one).

    ``keep_bits``: return bfloat16 data as its uint16 bit patterns instead of float32."""
    if isinstance(value, np.ndarray):
        array = value
    elif is_torch_tensor(value):
        return _torch_to_numpy(value, name, keep_bits=keep_bits)
    elif isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be a number or an array, not {type(value).__name__}")
    else:
        try:
            array = np.asarray(value)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{name} cannot be converted to an array: {e}") from None
    if is_bfloat16(array):
        return array.view(np.uint16) if keep_bits else array.astype(np.float32)
    return array


def to_real_array(value: Any, name: str) -> np.ndarray:
    """A numeric (bool, int or float) array; complex, strings and objects are refused."""
    array = to_numpy(value, name)
    if array.dtype.kind not in REAL_KINDS:
        raise TypeError(f"{name} must hold real numbers, not {array.dtype}")
    return array


def to_float(value: Any, name: str) -> float:
    """One real number from a Python/numpy number or a one-element array or tensor."""
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be a real number, not {type(value).__name__}")
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, numbers.Complex):
        raise TypeError(f"{name} must be a real number, not complex")
    if is_torch_tensor(value):
        if value.numel() != 1:
            raise ValueError(
                f"{name} must hold exactly one number, got a tensor of shape {tuple(value.shape)}"
            )
        if value.is_complex():
            raise TypeError(f"{name} must be a real number, not {value.dtype}")
        return float(value.detach().reshape(()).item())
    array = to_numpy(value, name)
    if array.size != 1:
        raise ValueError(f"{name} must hold exactly one number, got shape {array.shape}")
    if array.dtype.kind not in REAL_KINDS:
        raise TypeError(f"{name} must be a real number, not {array.dtype}")
    return float(array.reshape(-1)[0])


def to_step(value: Any, name: str = "global_step") -> int:
    """An int64 step (torch applies ``int()``, so floats are truncated as there)."""
    if type(value) is int:
        step = value
    elif isinstance(value, numbers.Integral):
        step = int(value)
    else:
        number = to_float(value, name)
        if not math.isfinite(number):
            raise ValueError(f"{name} must be finite, got {number}")
        step = int(number)
    if not -(1 << 63) <= step < (1 << 63):
        raise ValueError(f"{name} {step} does not fit in int64")
    return step


def to_walltime(value: Any, name: str = "walltime") -> float:
    """Seconds since the epoch; non-finite values are refused (TensorBoard's data server
    rejects NaN wall times and drops infinite ones)."""
    number = to_float(value, name)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {number}")
    return number


def check_tag(tag: Any, name: str = "tag") -> bytes:
    """A tag as UTF-8 bytes: a non-empty ``str``."""
    if not isinstance(tag, str):
        raise TypeError(f"{name} must be a str, not {type(tag).__name__}")
    if not tag:
        raise ValueError(f"{name} must not be empty")
    try:
        return tag.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"{name} is not valid Unicode text: {e}") from None


def check_finite(array: np.ndarray, name: str) -> None:
    """Refuse NaN and infinities where they would make a meaningless record."""
    if array.dtype.kind in "fc" and not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
