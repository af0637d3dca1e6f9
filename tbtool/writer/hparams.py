"""Hyperparameters: the hparams plugin's experiment, session start and session end records
(format.md §2.7, §4.4).

Values: ``bool`` → ``bool_value``/DATA_TYPE_BOOL (torch tests ``int`` first and writes
booleans as 1.0/0.0, a bug fixed here); other real numbers (Python, numpy, one-element
tensors) → ``number_value``/DATA_TYPE_FLOAT64; ``str`` → ``string_value``/DATA_TYPE_STRING;
``None`` → left out. The three records carry only metadata, no tensor.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np
from google.protobuf import struct_pb2

from tbtool.proto import hparams_pb2, summary_pb2
from tbtool.writer.convert import is_torch_tensor, to_numpy

EXPERIMENT_TAG = "_hparams_/experiment"
SESSION_START_INFO_TAG = "_hparams_/session_start_info"
SESSION_END_INFO_TAG = "_hparams_/session_end_info"

_BOOL, _NUMBER, _STRING = "bool", "number", "string"
_DATA_TYPES = {
    _BOOL: hparams_pb2.DATA_TYPE_BOOL,
    _NUMBER: hparams_pb2.DATA_TYPE_FLOAT64,
    _STRING: hparams_pb2.DATA_TYPE_STRING,
}


def _typed(value: Any, where: str) -> tuple[str, Any]:
    """(kind, plain Python value) of one hyperparameter value."""
    if isinstance(value, (bool, np.bool_)):
        return _BOOL, bool(value)
    if isinstance(value, str):
        return _STRING, value
    if isinstance(value, numbers.Real):
        return _NUMBER, float(value)
    if is_torch_tensor(value) or isinstance(value, np.ndarray) or hasattr(value, "__array__"):
        array = to_numpy(value, where)
        if array.size != 1 or array.dtype.kind not in "biuf":
            raise ValueError(f"{where} must be a single number, got {array.dtype}{array.shape}")
        item = array.reshape(-1)[0]
        return (_BOOL, bool(item)) if array.dtype.kind == "b" else (_NUMBER, float(item))
    raise ValueError(
        f"{where} must be a bool, int, float, str or one-element tensor, not {type(value).__name__}"
    )


def _proto_value(kind: str, value: Any) -> Any:
    if kind == _BOOL:
        return struct_pb2.Value(bool_value=value)
    if kind == _STRING:
        return struct_pb2.Value(string_value=value)
    return struct_pb2.Value(number_value=value)


def _metadata_value(tag: str, data: Any) -> bytes:
    metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name="hparams", content=data.SerializeToString()
        )
    )
    return summary_pb2.Summary.Value(tag=tag, metadata=metadata).SerializeToString()


def hparams_values(
    hparam_dict: Any, metric_dict: Any, hparam_domain_discrete: Any = None
) -> tuple[bytes, bytes, bytes]:
    """Serialized ``Summary.Value``\\ s: (experiment, session_start_info, session_end_info)."""
    if not isinstance(hparam_dict, Mapping):
        raise TypeError(f"hparam_dict must be a dict, not {type(hparam_dict).__name__}")
    if not isinstance(metric_dict, Mapping):
        raise TypeError(f"metric_dict must be a dict, not {type(metric_dict).__name__}")
    domains = hparam_domain_discrete or {}
    if not isinstance(domains, Mapping):
        raise TypeError(f"hparam_domain_discrete must be a dict, not {type(domains).__name__}")
    for key in list(hparam_dict) + list(metric_dict):
        if not isinstance(key, str):
            raise TypeError(f"hparam and metric names must be str, not {type(key).__name__}")
    for key in domains:
        if key not in hparam_dict:
            raise TypeError(f"hparam_domain_discrete[{key!r}] names no hparam in hparam_dict")
    start = hparams_pb2.SessionStartInfo()
    infos = []
    for key, value in hparam_dict.items():
        if value is None:
            continue
        kind, plain = _typed(value, f"hparam_dict[{key!r}]")
        start.hparams[key].CopyFrom(_proto_value(kind, plain))
        info = hparams_pb2.HParamInfo(name=key, type=_DATA_TYPES[kind])
        if key in domains:
            domain = domains[key]
            if isinstance(domain, (str, bytes)) or not isinstance(domain, (list, tuple)):
                raise TypeError(f"hparam_domain_discrete[{key!r}] must be a list of values")
            for item in domain:
                item_kind, item_plain = _typed(item, f"hparam_domain_discrete[{key!r}]")
                if item_kind != kind:
                    raise TypeError(
                        f"hparam_domain_discrete[{key!r}] holds a {item_kind} but "
                        f"hparam_dict[{key!r}] is a {kind}"
                    )
                info.domain_discrete.values.append(_proto_value(kind, item_plain))
        infos.append(info)
    experiment = hparams_pb2.Experiment(
        hparam_infos=infos,
        metric_infos=[
            hparams_pb2.MetricInfo(name=hparams_pb2.MetricName(tag=k)) for k in metric_dict
        ],
    )
    end = hparams_pb2.SessionEndInfo(status=hparams_pb2.STATUS_SUCCESS)
    return (
        _metadata_value(EXPERIMENT_TAG, hparams_pb2.HParamsPluginData(experiment=experiment)),
        _metadata_value(
            SESSION_START_INFO_TAG, hparams_pb2.HParamsPluginData(session_start_info=start)
        ),
        _metadata_value(SESSION_END_INFO_TAG, hparams_pb2.HParamsPluginData(session_end_info=end)),
    )
