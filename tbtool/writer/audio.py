"""Audio: mono 16-bit PCM WAV, as torch writes it (format.md §4.4).

The clip is squeezed to one dimension, amplitudes beyond ±1 are clipped (torch prints a
warning; tbtool issues a ``UserWarning``), scaled by 32767 and truncated to int16.
"""

from __future__ import annotations

import io
import math
import warnings
import wave
from typing import Any

import numpy as np

from tbtool.proto import summary_pb2
from tbtool.writer.convert import check_finite, to_float, to_real_array


def encode_wav(samples: np.ndarray, sample_rate: int) -> bytes:
    """int16 mono samples as a WAV file."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()


def audio_value(tag: str, snd_tensor: Any, sample_rate: Any) -> bytes:
    """The serialized ``Summary.Value{tag, audio}``."""
    array = to_real_array(snd_tensor, "snd_tensor").squeeze()
    if array.ndim != 1:
        raise ValueError(
            f"snd_tensor must hold one channel (1-D after squeezing), got shape {array.shape}"
        )
    if not array.size:
        raise ValueError("snd_tensor is empty")
    array = array.astype(np.float64, copy=False)
    check_finite(array, "snd_tensor")
    rate = to_float(sample_rate, "sample_rate")
    if not (math.isfinite(rate) and 1 <= rate < 2**31):
        raise ValueError(f"sample_rate must be a positive number of Hz, got {sample_rate}")
    if np.abs(array).max() > 1:
        warnings.warn(
            f"audio {tag!r}: amplitude out of range [-1, 1], clipped", UserWarning, stacklevel=3
        )
        array = array.clip(-1, 1)
    samples = (array * np.iinfo(np.int16).max).astype("<i2")
    audio = summary_pb2.Summary.Audio(
        sample_rate=rate,
        num_channels=1,
        length_frames=samples.shape[-1],
        encoded_audio_string=encode_wav(samples, round(rate)),
        content_type="audio/wav",
    )
    return summary_pb2.Summary.Value(tag=tag, audio=audio).SerializeToString()
