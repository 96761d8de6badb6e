"""Load a float emotion model in any of the forms it is shipped in, and fingerprint its files.

Forms: a Keras 2 JSON architecture plus ``--weights`` (the original project's files; read with
``tf_keras``, since Keras 3 cannot: "Could not locate class 'Functional'"), a full ``.h5`` (``tf_keras``),
a ``.keras`` archive (Keras 3, or ``tf_keras`` when it wrote it), or a SavedModel folder (``tf_keras``
when it holds Keras metadata, else its ``serving_default`` signature).

Every form becomes a ``SourceModel``: a ``tf.function`` taking float32 ``[None, H, W, C]`` and
returning ``[None, K]``, which is what both verification and ``converter.quantize`` use. TensorFlow is
imported here lazily, inside the functions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from converter.errors import ModelError, first_line
from converter.progress import bar
from edge.bundle import file_sha256

log = logging.getLogger(__name__)

#: The name ``converter.train`` gives its checkpoints (network + augmentation + optimizer): not for conversion.
TRAINING_CHECKPOINT = "trainer"

JSON_EXTS = (".json",)
H5_EXTS = (".h5", ".hdf5")
KERAS_EXTS = (".keras",)


@dataclass(frozen=True)
class SourceModel:
    """A loaded float model, ready to run and to convert."""

    fn: Any  # tf.function: float32 [batch, H, W, C] -> float32 [batch, outputs]
    keep: Any  # the object owning the variables (Keras model or restored SavedModel)
    input_shape: tuple[int, int, int]  # height, width, channels
    outputs: int
    kind: str  # keras2-json | h5 | keras | savedmodel
    files: tuple[Path, ...]
    source: dict[str, Any] = field(default_factory=dict)  # file names and sha256 for model.json
    batch: int | None = None  # a fixed batch size (some SavedModels), else None

    def predict(self, x: np.ndarray, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Float32 inputs (N x H x W x C, already preprocessed) -> float32 outputs (N x outputs)."""
        import tensorflow as tf

        size = self.batch or batch_size
        starts = range(0, len(x), size)
        out = []
        for i in bar(starts, "float model", progress, total=len(starts), unit="batch"):
            chunk = np.ascontiguousarray(x[i:i + size], np.float32)
            n = len(chunk)
            if self.batch and n < self.batch:  # pad a fixed-batch model's last chunk
                chunk = np.concatenate([chunk, np.zeros((self.batch - n, *chunk.shape[1:]), np.float32)])
            out.append(np.asarray(self.fn(tf.constant(chunk)), np.float32).reshape(len(chunk), -1)[:n])
        if not out:
            return np.zeros((0, self.outputs), np.float32)
        return np.concatenate(out)


def mirror_averaged(src: SourceModel) -> SourceModel:
    """``src`` averaged with itself on the horizontally mirrored input: one graph, the same weights."""
    import tensorflow as tf

    base = src.fn
    h, w, c = src.input_shape
    spec = tf.TensorSpec([src.batch, h, w, c], tf.float32, name="face")

    @tf.function(input_signature=[spec])
    def fn(x):
        return (base(x) + base(tf.reverse(x, axis=[2]))) * 0.5

    return replace(src, fn=fn)


def sha256_tree(folder: Path) -> str:
    """One digest for a folder: sha256 over each file's relative path and content digest, sorted."""
    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(f"{f.relative_to(folder).as_posix()}\0{file_sha256(f)}\n".encode())
    return h.hexdigest()


def load_model(path: Path | str, weights: Path | str | None = None) -> SourceModel:
    """Load ``path`` (JSON + ``weights``, ``.h5``, ``.keras`` or a SavedModel folder) as a ``SourceModel``."""
    path = Path(path)
    wpath = Path(weights) if weights else None
    if not path.exists():
        raise ModelError(f"model {path} does not exist: pass a Keras JSON (+ --weights), .h5, .keras "
                         f"or SavedModel folder")
    if wpath is not None and not wpath.is_file():
        raise ModelError(f"weights file {wpath} does not exist")
    _quiet_tensorflow()
    suffix = path.suffix.lower()
    if path.is_dir():
        if wpath is not None:
            raise ModelError(f"--weights does not go with a SavedModel folder ({path}): it holds its weights")
        return _saved_model(path)
    if suffix in JSON_EXTS:
        if wpath is None:
            raise ModelError(f"{path} is an architecture only: pass its weights too, --weights W.h5")
        return _keras2_json(path, wpath)
    if suffix in H5_EXTS:
        return _h5(path, wpath)
    if suffix in KERAS_EXTS:
        return _keras_archive(path, wpath)
    raise ModelError(f"{path}: unknown model form {suffix or '(no extension)'!r}; pass a Keras 2 .json "
                     f"(+ --weights), .h5, .keras, or a SavedModel folder")


# -- the forms -------------------------------------------------------------------------------------

def _keras2_json(path: Path, wpath: Path) -> SourceModel:
    try:
        text = path.read_text()
        config = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(f"{path} is not a Keras JSON architecture (not valid JSON: {e})") from None
    if not isinstance(config, dict) or "class_name" not in config or "config" not in config:
        raise ModelError(f"{path} is JSON but not a Keras model architecture (no 'class_name'/'config'); "
                         f"it should come from model.to_json()")
    version = str(config.get("keras_version", ""))
    k = _keras_module(version)
    try:
        model = k.models.model_from_json(text)
    except Exception as e:  # Keras raises many types for a bad config
        raise ModelError(f"{path}: Keras {_version(k)} cannot build this architecture: {first_line(e)}") from None
    _load_weights(model, wpath, path)
    return _from_keras(model, "keras2-json" if k.__name__ == "tf_keras" else "keras-json", (path, wpath))


def _h5(path: Path, wpath: Path | None) -> SourceModel:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            attrs = dict(f.attrs)
    except OSError as e:
        raise ModelError(f"{path} is not a readable HDF5 file ({first_line(e)}): copy it again") from None
    if "model_config" not in attrs:
        raise ModelError(f"{path} holds weights only, no architecture: pass the architecture JSON as MODEL "
                         f"and this file as --weights")
    version = attrs.get("keras_version", b"")
    k = _keras_module(version.decode() if isinstance(version, bytes) else str(version))
    try:
        model = k.models.load_model(path, compile=False)
    except Exception as e:
        raise ModelError(f"{path}: Keras {_version(k)} cannot load this model: {first_line(e)}") from None
    if wpath is not None:
        _load_weights(model, wpath, path)
    return _from_keras(model, "h5", (path,) + ((wpath,) if wpath else ()))


def _keras_archive(path: Path, wpath: Path | None) -> SourceModel:
    try:
        with zipfile.ZipFile(path) as z:
            meta = json.loads(z.read("metadata.json")) if "metadata.json" in z.namelist() else {}
            config = json.loads(z.read("config.json")) if "config.json" in z.namelist() else {}
    except (zipfile.BadZipFile, OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelError(f"{path} is not a .keras archive ({first_line(e)}): copy it again or save it "
                         f"with model.save('model.keras')") from None
    if isinstance(config, dict) and config.get("config", {}).get("name") == TRAINING_CHECKPOINT:
        raise ModelError(f"{path} is a training checkpoint (the network inside its augmentation, with the "
                         f"optimizer): convert the run's model.keras instead")
    k = _keras_module(str(meta.get("keras_version", "3")))
    try:
        model = (k.saving.load_model(path, compile=False) if k.__name__ == "keras"
                 else k.models.load_model(path, compile=False))
    except Exception as e:
        raise ModelError(f"{path}: Keras {_version(k)} cannot load this model: {first_line(e)}") from None
    if wpath is not None:
        _load_weights(model, wpath, path)
    return _from_keras(model, "keras", (path,) + ((wpath,) if wpath else ()))


def _saved_model(path: Path) -> SourceModel:
    if not any((path / n).is_file() for n in ("saved_model.pb", "saved_model.pbtxt")):
        raise ModelError(f"{path} is a folder but not a SavedModel (no saved_model.pb)")
    if (path / "keras_metadata.pb").is_file():
        tf_keras = _tf_keras(path)

        try:
            model = tf_keras.models.load_model(path, compile=False)
        except Exception as e:
            log.debug("tf_keras cannot load %s (%s); using its serving signature", path, first_line(e))
        else:
            return _from_keras(model, "savedmodel", (path,))
    import tensorflow as tf

    try:
        obj = tf.saved_model.load(str(path))
    except Exception as e:
        raise ModelError(f"{path}: TensorFlow cannot load this SavedModel: {first_line(e)}") from None
    sig = getattr(obj, "signatures", {}).get("serving_default")
    if sig is None:
        raise ModelError(f"{path} has no 'serving_default' signature: export it with model.export() "
                         f"or tf.saved_model.save(..., signatures=...)")
    inputs = sig.structured_input_signature[1]
    outputs = sig.structured_outputs
    if len(inputs) != 1 or not isinstance(outputs, dict) or len(outputs) != 1:
        raise ModelError(f"{path}: the serving signature has {len(inputs)} input(s) and "
                         f"{len(outputs) if isinstance(outputs, dict) else '?'} output(s); an emotion model "
                         f"has one of each")
    (in_name, in_spec), = inputs.items()
    (out_name, out_spec), = outputs.items()
    if not in_spec.dtype.is_floating:
        raise ModelError(f"{path}: the serving signature takes {in_spec.dtype.name} input; the converter feeds "
                         f"preprocessed float images, so export the model with a float32 input")
    batch, hwc = _check_shapes(tuple(in_spec.shape), tuple(out_spec.shape), path)
    spec = tf.TensorSpec([batch, *hwc], tf.float32, name="face")

    @tf.function(input_signature=[spec])
    def fn(x):
        return sig(**{in_name: tf.cast(x, in_spec.dtype)})[out_name]

    return SourceModel(fn, obj, hwc, int(out_spec.shape[-1]), "savedmodel", (path,),
                       {"file": path.name, "sha256": sha256_tree(path), "format": "savedmodel"}, batch)


# -- helpers ----------------------------------------------------------------------------------------

def _from_keras(model: Any, kind: str, files: Iterable[Path]) -> SourceModel:
    import tensorflow as tf

    files = tuple(files)
    where = files[0]
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelError(f"{where}: the model has {len(model.inputs)} input(s) and {len(model.outputs)} "
                         f"output(s); an emotion model has one image input and one probability output")
    in_shape = tuple(model.inputs[0].shape)
    out_shape = tuple(model.outputs[0].shape)
    _, hwc = _check_shapes(in_shape, out_shape, where)
    spec = tf.TensorSpec([None, *hwc], tf.float32, name="face")

    @tf.function(input_signature=[spec])
    def fn(x):
        return model(x, training=False)

    digest = sha256_tree(files[0]) if files[0].is_dir() else file_sha256(files[0])
    source: dict[str, Any] = {"file": files[0].name, "sha256": digest, "format": kind}
    if len(files) > 1:
        source.update({"weights_file": files[1].name, "weights_sha256": file_sha256(files[1])})
    return SourceModel(fn, _trackable(model), hwc, int(out_shape[-1]), kind, files, source)


def _trackable(model: Any) -> Any:
    """What the TFLite converter should freeze: a tf_keras model tracks its own variables; a Keras 3
    model's ``tf.Variable``s are listed on a ``tf.Module`` (else they stay READ_VARIABLE ops)."""
    import tensorflow as tf

    if type(model).__module__.startswith("tf_keras"):
        return model
    keep = tf.Module()
    keep.model_variables = [getattr(v, "value", v) for v in model.variables]
    return keep


def _check_shapes(in_shape: tuple, out_shape: tuple, where: Path) -> tuple[int | None, tuple[int, int, int]]:
    dims = [None if d is None else int(d) for d in in_shape]
    if len(dims) != 4 or None in dims[1:] or dims[3] not in (1, 3):
        raise ModelError(f"{where}: the model's input is {tuple(dims)}; expected (batch, height, width, 1 or 3) "
                         f"with a fixed height and width")
    if len(out_shape) != 2 or out_shape[-1] is None:
        raise ModelError(f"{where}: the model's output is {tuple(out_shape)}; expected (batch, classes): "
                         f"one probability per emotion")
    return dims[0], (dims[1], dims[2], dims[3])


def _load_weights(model: Any, wpath: Path, arch: Path) -> None:
    try:
        model.load_weights(str(wpath))
    except Exception as e:
        raise ModelError(f"weights {wpath} do not match the architecture in {arch}: {first_line(e)} "
                         f"(pass the weights saved with this architecture)") from None


def _keras_module(version: str) -> Any:
    """tf_keras for files written by Keras 2 (or no version), Keras 3 for Keras 3 files."""
    if version.startswith("3"):
        import keras

        return keras
    return _tf_keras(None)


def _tf_keras(path: Path | None) -> Any:
    """tf_keras, or a ``ModelError`` saying how to install it (the converter extra leaves it out on x86_64,
    where it would pull in a second TensorFlow)."""
    try:
        import tf_keras
    except ImportError:
        what = f"{path} was written by Keras 2" if path else "a Keras 2 file"
        raise ModelError(f"{what}, which needs tf-keras: pip install --no-deps \"tf-keras>=2.16,<2.22\"") from None
    return tf_keras


def _version(k: Any) -> str:
    return f"{getattr(k, '__version__', '?')} ({k.__name__})"


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
