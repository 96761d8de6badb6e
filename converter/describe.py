"""``inspect``: what a bundle or a bare ``model.tflite`` holds: metadata, tensors, size and ops.

Uses the device's interpreter loader (LiteRT), so what it shows is what the Pi will run.
"""

from __future__ import annotations

import importlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from edge import bundle as bundles
from edge.bundle import BundleError


def describe(path: Path | str) -> dict[str, Any]:
    """Metadata (when there is a ``model.json``), input/output tensors, file size and op counts."""
    p = Path(path)
    meta: dict[str, Any] | None = None
    meta_error = ""
    if p.is_dir() or p.name == bundles.META_FILE:
        b = bundles.load(p)
        meta, model = b.to_json(), b.model_path
    elif p.is_file():
        model = p
        bundles.check_tflite_file(model)
        if (p.parent / bundles.META_FILE).is_file():
            try:
                meta = bundles.load(p.parent).to_json()
            except BundleError as e:  # still show the model itself
                meta_error = str(e)
    else:
        raise BundleError(f"{p} does not exist: pass a bundle folder or a model.tflite")
    interp = _interpreter(model)
    ops = Counter(op.get("op_name", "?") for op in _ops(interp))
    return {
        "path": str(p),
        "model": str(model),
        "size_bytes": model.stat().st_size,
        "metadata": meta,
        "metadata_error": meta_error,
        "inputs": [_tensor(d) for d in interp.get_input_details()],
        "outputs": [_tensor(d) for d in interp.get_output_details()],
        "ops": dict(sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))),
        "op_count": int(sum(ops.values())),
    }


def _interpreter(model: Path) -> Any:
    """The device's interpreter without its default delegate, so the op list is the model's own ops."""
    from edge.interpreter import interpreter_class

    cls, package = interpreter_class()
    resolver = getattr(importlib.import_module(cls.__module__), "OpResolverType", None)
    kwargs = {"experimental_op_resolver_type": resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES} if resolver else {}
    try:
        interp = cls(model_path=str(model), num_threads=1, **kwargs)
        interp.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        raise BundleError(f"{package} cannot load {model}: {e}") from None
    return interp


def _ops(interp: Any) -> list[dict[str, Any]]:
    try:
        return list(interp._get_ops_details())
    except (AttributeError, RuntimeError, ValueError):  # an interpreter without the private helper
        return []


def _tensor(d: dict[str, Any]) -> dict[str, Any]:
    scale, zero = d.get("quantization", (0.0, 0))
    return {"name": d.get("name", ""), "shape": [int(v) for v in d["shape"]],
            "shape_signature": [int(v) for v in d.get("shape_signature", d["shape"])],
            "dtype": np.dtype(d["dtype"]).name, "scale": float(scale), "zero_point": int(zero)}


def describe_text(info: dict[str, Any]) -> str:
    """A human-readable version of ``describe``."""
    lines = [f"{info['model']}  {info['size_bytes'] / 1e6:.2f} MB"]
    meta = info["metadata"]
    if meta:
        q, i, pre = meta["quantization"], meta["input"], meta["preprocessing"]
        lines += [
            f"name          {meta.get('name')}",
            f"labels        {', '.join(meta['labels'])}",
            f"input         {i['height']}x{i['width']}x{i['channels']} {i['color']}",
            f"preprocessing {pre['mode']} (mean {pre['mean']}, std {pre['std']}, crop margin {pre['crop_margin']}, "
            f"resized {pre.get('interpolation', 'area')})",
            f"quantization  {q['mode']}",
            *(["mirror average yes: each face is averaged with its mirror image inside the model (two passes)"]
              if meta.get("mirror_average") else []),
            f"source        {json.dumps(meta.get('source', {}))}",
            f"converter     {meta.get('converter_version')}",
            f"verification  {json.dumps(meta.get('verification', {}))}",
        ]
    elif info.get("metadata_error"):
        lines.append(f"metadata      unusable: {info['metadata_error']}")
    else:
        lines.append("(no model.json beside it: a bare TFLite model)")
    for kind in ("inputs", "outputs"):
        for t in info[kind]:
            quant = f", scale {t['scale']:.6g}, zero point {t['zero_point']}" if t["scale"] else ""
            lines.append(f"{kind[:-1]:<13} {t['name']}: {t['dtype']} {t['shape_signature']}{quant}")
    lines.append(f"ops           {info['op_count']}: " + ", ".join(f"{k} x{v}" for k, v in info["ops"].items()))
    return "\n".join(lines)
