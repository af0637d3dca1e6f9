"""What the writer accepts (Python numbers, lists, numpy, torch and JAX arrays) and how it
refuses bad input: a ValueError/TypeError naming the argument, and nothing written."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from writer_support import by_tag, payloads

from tbtool.values.tensor import decode_tensor
from tbtool.writer import SummaryWriter

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def writer(tmp_path):
    w = SummaryWriter(tmp_path)
    yield w
    w.close()


def logged(writer, tag):
    writer.flush()
    return by_tag(writer.file_writer.path)[tag]


@pytest.mark.parametrize(
    "value",
    [
        2.5,
        np.float32(2.5),
        np.float64(2.5),
        np.array(2.5),
        np.array([2.5]),
        np.array([[2.5]]),
        [2.5],
    ],
    ids=["float", "np.float32", "np.float64", "0-d", "[1]", "[1,1]", "list"],
)
def test_scalar_inputs(writer, value):
    writer.add_scalar("x", value, 1)
    writer.add_scalar("x", value, np.int64(2), walltime=np.float64(5.0))
    ((e1, v1), (e2, v2)) = logged(writer, "x")
    assert v1.simple_value == v2.simple_value == 2.5
    assert e1.step == 1 and (e2.step, e2.wall_time) == (2, 5.0)


@pytest.mark.parametrize(
    ("value", "expected"), [(7, 7.0), (True, 1.0), (np.int8(-3), -3.0), (np.bool_(True), 1.0)]
)
def test_scalar_numbers(writer, value, expected):
    writer.add_scalar("x", value)
    ((_, v),) = logged(writer, "x")
    assert v.simple_value == expected


def test_steps_like_torch(writer):
    # torch applies int(): floats are truncated; numpy and 0-d arrays work.
    for step in (3.9, np.int32(4), np.array(5), 2**40, -2):
        writer.add_scalar("x", 1.0, step)
    assert [e.step for e, _ in logged(writer, "x")] == [3, 4, 5, 2**40, -2]


torch = pytest.importorskip("torch")


def test_torch_inputs(writer):
    weights = torch.nn.Parameter(torch.tensor([[0.25, 0.5], [1.0, 2.0]]))
    loss = (weights * 2).sum()  # requires grad
    writer.add_scalar("loss", loss, 1)
    writer.add_scalar("half", torch.tensor(1.5, dtype=torch.float16), 1)
    writer.add_scalar("bf16", torch.tensor(1e5, dtype=torch.bfloat16), 1)
    writer.add_scalar("int", torch.tensor([3]), 1)
    writer.add_histogram("w", weights, 1)
    writer.add_histogram("bf16", torch.tensor([1e5, -1e5], dtype=torch.bfloat16), 1)
    writer.add_image("img", torch.rand(3, 4, 4, requires_grad=True), 1)
    writer.add_tensor("t", weights, 1)
    writer.add_pr_curve("pr", torch.tensor([0, 1, 1]), torch.tensor([0.1, 0.7, 0.9]), 1)
    writer.add_mesh("m", torch.rand(1, 3, 3, requires_grad=True), global_step=1)
    writer.add_hparams(
        {"lr": torch.tensor(0.5), "flag": torch.tensor(True)}, {"acc": torch.tensor(0.9)}
    )
    assert logged(writer, "loss")[0][1].simple_value == 7.5
    assert logged(writer, "half")[0][1].simple_value == 1.5
    # torch's writer goes through float16, where 1e5 overflows to inf
    assert logged(writer, "bf16")[0][1].simple_value == 99840.0
    assert logged(writer, "int")[0][1].simple_value == 3.0
    ((_, hist),) = logged(writer, "w")
    assert hist.histo.num == 4 and hist.histo.max == 2.0
    ((_, bf_hist),) = logged(writer, "bf16")[1:]
    assert bf_hist.histo.max == 99840.0
    ((_, tensor),) = logged(writer, "t")
    np.testing.assert_array_equal(decode_tensor(tensor.tensor)[0], [[0.25, 0.5], [1.0, 2.0]])


def test_torch_meta_tensors_are_refused(writer):
    with pytest.raises(ValueError, match="meta"):
        writer.add_histogram("h", torch.empty(3, device="meta"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_tensors(writer):
    writer.add_scalar("x", torch.tensor(1.5, device="cuda"), 1)
    writer.add_image("img", torch.rand(3, 4, 4, device="cuda"), 1)
    assert logged(writer, "x")[0][1].simple_value == 1.5


def test_list_inputs(writer):
    writer.add_histogram("h", [1, 2, 2, 3], 1)
    writer.add_image("img", [[0.0, 1.0], [1.0, 0.0]], 1, dataformats="HW")
    writer.add_audio("a", [0.0, 0.5, -0.5], 1)
    writer.add_pr_curve("pr", [0, 1, 1], [0.2, 0.6, 0.9], 1)
    writer.add_tensor("t", [[1, 2], [3, 4]], 1)
    writer.add_mesh("m", [[[0, 0, 0], [1, 0, 0], [0, 1, 0]]], faces=[[[0, 1, 2]]])
    assert logged(writer, "h")[0][1].histo.num == 4
    assert logged(writer, "img")[0][1].image.width == 2
    assert logged(writer, "a")[0][1].audio.length_frames == 3
    np.testing.assert_array_equal(
        decode_tensor(logged(writer, "t")[0][1].tensor)[0], [[1, 2], [3, 4]]
    )


def test_jax_arrays(writer):
    jnp = pytest.importorskip("jax.numpy")
    writer.add_scalar("x", jnp.float32(2.5), 1)
    writer.add_scalar("y", jnp.array([1.5], dtype=jnp.bfloat16), 1)
    writer.add_histogram("h", jnp.arange(10.0), 1)
    writer.add_image("img", jnp.ones((3, 2, 2)), 1)
    writer.add_tensor("bf16", jnp.array([1.5, -2.0], dtype=jnp.bfloat16), 1)
    assert logged(writer, "x")[0][1].simple_value == 2.5
    assert logged(writer, "y")[0][1].simple_value == 1.5
    assert logged(writer, "h")[0][1].histo.num == 10
    ((_, bf16),) = logged(writer, "bf16")
    assert bf16.tensor.dtype == 14 and list(bf16.tensor.half_val) == [0x3FC0, 0xC000]


@pytest.mark.parametrize(
    ("dtype", "field", "bits"),
    [
        ("float16", "half_val", [0x3E00, 0xC000]),
        ("bfloat16", "half_val", [0x3FC0, 0xC000]),
        ("uint8", "int_val", None),
        ("int8", "int_val", None),
        ("int16", "int_val", None),
        ("int32", "int_val", None),
        ("int64", "int64_val", None),
        ("bool", "bool_val", None),
        ("float32", "float_val", None),
        ("float64", "double_val", None),
        ("complex64", "scomplex_val", None),
        ("complex128", "dcomplex_val", None),
        ("complex32", "scomplex_val", None),
    ],
)
def test_add_tensor_dtypes(writer, dtype, field, bits):
    from tensorboard.util import tensor_util

    data = torch.tensor([1.5, -2.0]) if dtype != "bool" else torch.tensor([True, False])
    data = data.to(getattr(torch, dtype))
    writer.add_tensor("t", data, 1)
    ((_, value),) = logged(writer, "t")
    assert value.tensor.ListFields()[1][0].name == "tensor_shape"
    assert len(getattr(value.tensor, field)) > 0
    if bits:
        assert list(getattr(value.tensor, field)) == bits
    if dtype not in ("bfloat16", "complex32"):  # TensorBoard's stub lacks these numpy types
        decoded = tensor_util.make_ndarray(value.tensor)
        np.testing.assert_array_equal(decoded, data.numpy())
    ours, _quirk = decode_tensor(value.tensor)
    np.testing.assert_array_equal(
        ours,
        data.to(torch.complex64 if dtype == "complex32" else data.dtype).float().numpy()
        if dtype == "bfloat16"
        else (data.to(torch.complex64) if dtype == "complex32" else data).numpy(),
    )


def _records(writer) -> int:
    writer.flush()
    return len(payloads(writer.file_writer.path))


BAD_CALLS = [
    ("add_scalar", (1, 1.0), TypeError, "tag"),
    ("add_scalar", ("", 1.0), ValueError, "tag"),
    ("add_scalar", ("x", "1.0"), TypeError, "scalar_value"),
    ("add_scalar", ("x", None), TypeError, "scalar_value"),
    ("add_scalar", ("x", [1.0, 2.0]), ValueError, "scalar_value"),
    ("add_scalar", ("x", 1 + 2j), TypeError, "scalar_value"),
    ("add_scalar", ("x", 1.0, "one"), TypeError, "global_step"),
    ("add_scalar", ("x", 1.0, 2**64), ValueError, "global_step"),
    ("add_scalar", ("x", 1.0, math.inf), ValueError, "global_step"),
    ("add_scalar", ("x", 1.0, 1, math.nan), ValueError, "walltime"),
    ("add_scalar", ("x", [1.0, 2.0], 1, None, True), ValueError, "scalar_value"),
    ("add_scalars", ("m", [1.0]), TypeError, "tag_scalar_dict"),
    ("add_scalars", ("m", {"a": 1.0, "b": "x"}), TypeError, "scalar_value"),
    ("add_scalars", ("m", {1: 1.0}), TypeError, "tag_scalar_dict key"),
    ("add_histogram", ("h", []), ValueError, "values"),
    ("add_histogram", ("h", [1.0, math.nan]), ValueError, "values"),
    ("add_histogram", ("h", [1.0, math.inf]), ValueError, "values"),
    ("add_histogram", ("h", ["a"]), TypeError, "values"),
    ("add_histogram", ("h", [1.0], 1, "nonsense"), ValueError, "bins"),
    ("add_histogram", ("h", [1.0], 1, "tensorflow", None, 0), ValueError, "max_bins"),
    ("add_histogram", ("h", [1e30]), ValueError, "values"),  # outside torch's default bins
    ("add_histogram_raw", ("h", 0, 1, 2, 1, 1, [1, 2], [1]), ValueError, "bucket_limits"),
    ("add_histogram_raw", ("h", math.nan, 1, 2, 1, 1, [1], [1]), ValueError, "min"),
    ("add_image", ("i", np.zeros((3, 4, 4)), 1, None, "NCHW"), ValueError, "img_tensor"),
    ("add_image", ("i", np.zeros((3, 4, 4)), 1, None, "CHX"), ValueError, "dataformats"),
    ("add_image", ("i", np.zeros((3, 4, 4)), 1, None, "CCH"), ValueError, "dataformats"),
    ("add_image", ("i", np.zeros((3, 4, 4)), 1, None, 3), TypeError, "dataformats"),
    ("add_image", ("i", np.zeros((2, 4, 4))), ValueError, "channels"),
    ("add_image", ("i", np.zeros((3, 0, 4))), ValueError, "empty"),
    ("add_image", ("i", np.full((3, 2, 2), math.nan)), ValueError, "img_tensor"),
    ("add_images", ("i", np.zeros((2, 5, 4, 4))), ValueError, "channels"),
    ("add_image_with_boxes", ("i", np.zeros((3, 8, 8)), [[1, 2, 3]]), ValueError, "box_tensor"),
    ("add_video", ("v", np.zeros((1, 2, 3, 4))), ValueError, "vid_tensor"),
    ("add_video", ("v", np.zeros((1, 2, 3, 4, 4)), 1, 0), ValueError, "fps"),
    ("add_audio", ("a", np.zeros((2, 10))), ValueError, "snd_tensor"),
    ("add_audio", ("a", [0.1, math.nan]), ValueError, "snd_tensor"),
    ("add_audio", ("a", [0.1, 0.2], 1, -5), ValueError, "sample_rate"),
    ("add_text", ("t", 5), TypeError, "text_string"),
    ("add_tensor", ("t", np.array(["a"], dtype=object)), TypeError, "tensor"),
    ("add_tensor", ("t", "abc"), TypeError, "tensor"),
    ("add_pr_curve", ("p", [0, 1], [0.5]), ValueError, "same shape"),
    ("add_pr_curve", ("p", [0, 1], [0.5, 1.5]), ValueError, "predictions"),
    ("add_pr_curve", ("p", [0, 2], [0.5, 0.5]), ValueError, "labels"),
    ("add_pr_curve", ("p", [0, 1], [0.5, 0.5], 1, 1), ValueError, "num_thresholds"),
    ("add_pr_curve_raw", ("p", [1], [1], [1], [1], [1], [1, 2]), ValueError, "same length"),
    ("add_mesh", ("m", np.zeros((4, 3))), ValueError, "vertices"),
    ("add_mesh", ("m", np.zeros((1, 4, 3)), np.zeros((1, 3, 3))), ValueError, "colors"),
    ("add_mesh", ("m", np.zeros((1, 4, 3)), None, None, {"f": object()}), TypeError, "config_dict"),
    ("add_custom_scalars", ({"c": {"t": ["Margin", ["a", "b"]]}},), ValueError, "Margin"),
    ("add_custom_scalars", ({"c": {"t": ["Multiline", "loss"]}},), TypeError, "tags"),
    ("add_custom_scalars", ([1],), TypeError, "layout"),
    ("add_custom_scalars_marginchart", (["a", "b"],), ValueError, "tags"),
    ("add_embedding", (np.zeros(4),), ValueError, "mat"),
    ("add_embedding", (np.zeros((3, 2)), ["a"]), ValueError, "metadata"),
    ("add_embedding", (np.zeros((3, 2)), None, np.zeros((2, 3, 4, 4))), ValueError, "label_img"),
    ("add_hparams", ([1], {}), TypeError, "hparam_dict"),
    ("add_hparams", ({"a": [1]}, {}), ValueError, "hparam_dict['a']"),
    ("add_hparams", ({"a": 1}, {"m": "x"}), TypeError, "metric_dict['m']"),
    ("add_hparams", ({"a": 1}, {}, {"b": [1]}), TypeError, "hparam_domain_discrete['b']"),
    ("add_hparams", ({"a": 1}, {}, {"a": ["x"]}), TypeError, "hparam_domain_discrete['a']"),
]


@pytest.mark.parametrize(
    ("method", "args", "error", "names"),
    BAD_CALLS,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(BAD_CALLS)],
)
def test_bad_input_is_refused_and_nothing_is_written(writer, tmp_path, method, args, error, names):
    before = _records(writer)
    files_before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(error, match=names.replace("[", r"\[").replace("(", r"\(")):
        getattr(writer, method)(*args)
    assert _records(writer) == before
    assert sorted(p.name for p in tmp_path.rglob("*")) == files_before


def test_clip_warning_for_loud_audio(writer):
    with pytest.warns(UserWarning, match="clipped"):
        writer.add_audio("a", [0.5, 2.0], 1)


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )


def test_no_torch_jax_or_matplotlib_imported_for_numpy_inputs(tmp_path):
    code = (
        "import sys, numpy as np\n"
        "from tbtool import SummaryWriter\n"
        f"with SummaryWriter({str(tmp_path)!r}) as w:\n"
        "    w.add_scalar('x', np.float32(1), 1); w.add_histogram('h', np.arange(5.0), 1)\n"
        "    w.add_image('i', np.zeros((3, 2, 2)), 1); w.add_tensor('t', np.arange(3), 1)\n"
        "    w.add_hparams({'a': 1}, {'m': 0.5}, run_name='hp')\n"
        "heavy = ('torch', 'jax', 'matplotlib', 'tensorboard')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    result = _python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_add_graph_without_torch_says_so(tmp_path):
    code = (
        "import sys\n"
        "sys.modules['torch'] = None\n"
        "sys.modules['onnx'] = None\n"
        "from tbtool import SummaryWriter\n"
        f"w = SummaryWriter({str(tmp_path)!r})\n"
        "for call in (lambda: w.add_graph(object()), lambda: w.add_onnx_graph('m.onnx')):\n"
        "    try:\n"
        "        call()\n"
        "    except ImportError as e:\n"
        "        print(e)\n"
    )
    result = _python(code)
    assert result.returncode == 0, result.stderr
    graph, onnx = result.stdout.strip().splitlines()
    assert "add_graph needs PyTorch" in graph and "tbtool[torch]" in graph
    assert "add_onnx_graph needs the onnx package" in onnx
