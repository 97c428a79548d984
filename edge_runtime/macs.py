"""Multiply-accumulates per frame, counted from a .tflite graph's tensor shapes (no TensorFlow).

The interpreter is built without its default delegates, so the node list is the converter's
graph (with XNNPACK applied the ops would be folded into one DELEGATE node). Counted ops:

    CONV_2D            out H*W*Cout * kh*kw*Cin_per_group      (filter [Cout, kh, kw, Cin/groups])
    DEPTHWISE_CONV_2D  out H*W*Cout * kh*kw                    (filter [1, kh, kw, Cout])
    TRANSPOSE_CONV     in  H*W*Cin  * kh*kw*Cout               (each input pixel scatters a kh x kw x Cout patch)
    FULLY_CONNECTED    rows * In * Out                         (weights [Out, In])

Everything else (adds, activations, pooling, (de)quantize) is cheap next to these and is listed,
not counted. Shapes are the same in fp32, fp16, dynamic and int8 files, so all four count alike.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

COUNTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED")


def _op_macs(op: str, shapes: list[tuple[int, ...] | None], out_shape: tuple[int, ...]) -> int:
    """MACs of one node from its input shapes and first output shape (0 for ops not in COUNTED)."""
    if op == "CONV_2D":
        _, h, w, cout = out_shape
        _, kh, kw, cin = shapes[1]
        return h * w * cout * kh * kw * cin
    if op == "DEPTHWISE_CONV_2D":
        _, h, w, cout = out_shape
        _, kh, kw, _ = shapes[1]
        return h * w * cout * kh * kw
    if op == "TRANSPOSE_CONV":  # inputs: output_shape, weights [Cout, kh, kw, Cin], input [1, H, W, Cin]
        cout, kh, kw, _ = shapes[1]
        _, h, w, cin = shapes[2]
        return h * w * cin * kh * kw * cout
    if op == "FULLY_CONNECTED":
        n_out, n_in = shapes[1]
        rows = int(np.prod(shapes[0])) // n_in
        return rows * n_in * n_out
    return 0


def count_macs(path: str | Path) -> dict:
    """{"macs": total per frame, "by_op": {op: macs}, "ops": {op: count}, "uncounted": [op names]}."""
    from edge_runtime.engine import check_tflite_file, find_runtime

    path = Path(path)
    check_tflite_file(path)
    runtime = find_runtime()
    interpreter = _plain_interpreter(runtime, path)
    tensors = {t["index"]: tuple(int(v) for v in t["shape"]) for t in interpreter.get_tensor_details()}
    by_op: Counter = Counter()
    ops: Counter = Counter()
    for node in interpreter._get_ops_details():  # public get_ops_details does not exist in every runtime
        op = node["op_name"]
        ops[op] += 1
        if op not in COUNTED:
            continue
        shapes = [tensors.get(int(i)) if int(i) >= 0 else None for i in node["inputs"]]
        out_shape = tensors[int(node["outputs"][0])]
        by_op[op] += _op_macs(op, shapes, out_shape)
    return {"macs": int(sum(by_op.values())), "by_op": dict(by_op), "ops": dict(ops),
            "uncounted": sorted(op for op in ops if op not in COUNTED)}


def _plain_interpreter(runtime, path: Path):
    """An interpreter with no delegates applied, so every converter node is still visible."""
    kwargs = {}
    try:
        if runtime.name == "ai-edge-litert":
            from ai_edge_litert.interpreter import OpResolverType
        else:
            from tflite_runtime.interpreter import OpResolverType
        kwargs["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    except ImportError:  # very old runtimes: the default delegate may hide nodes, counted as DELEGATE
        pass
    interpreter = runtime.interpreter_class(model_path=str(path), num_threads=1, **kwargs)
    interpreter.allocate_tensors()
    return interpreter
