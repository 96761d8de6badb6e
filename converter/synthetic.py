"""Tiny synthetic "faces" and models that really classify them, for tests and benchmarks without FER2013.

A randomly initialised VGG19 is useless for checking a conversion: its softmax is nearly uniform (int8
ties every class), training it a few steps collapses it to one class, and a deep random net loses too
much in int8 for agreement to mean anything. So the models here keep their architecture but get
weights that make them meaningful:

- the first convolution holds fixed random 3x3 filters (texture detectors);
- every later 3x3 convolution passes its input through (identity-centred kernels: ``kernel[1, 1, c, c]
  = 1``; a channel-expanding layer copies channel ``c % cin``), zero bias;
- only the last Dense layer is fitted (least squares on the frozen features) to seven textures whose
  class is visible in the pixels, plus noise.

A correct int8 conversion of such a VGG19 agrees with Keras on >= 0.99 of the images; a wrong input
scale drops that to well under a half.
"""

from __future__ import annotations

from typing import Any

import numpy as np

CLASSES = 7


def faces(n: int, size: int = 48, seed: int = 0, noise: float = 14.0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` gray uint8 images (n x size x size) of seven textures, classes balanced, and their classes."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    y = np.arange(n) % CLASSES
    rng.shuffle(y)
    out = np.empty((n, size, size), np.uint8)
    for i, k in enumerate(y):
        phase, period = rng.uniform(0, 2 * np.pi), rng.uniform(5, 7)
        if k == 0:  # horizontal stripes
            img = np.sin(2 * np.pi * yy / period + phase)
        elif k == 1:  # vertical stripes
            img = np.sin(2 * np.pi * xx / period + phase)
        elif k == 2:  # diagonal stripes
            img = np.sin(2 * np.pi * (xx + yy) / (1.4 * period) + phase)
        elif k == 3:  # the other diagonal
            img = np.sin(2 * np.pi * (xx - yy) / (1.4 * period) + phase)
        elif k == 4:  # checkerboard
            img = np.sign(np.sin(2 * np.pi * xx / 8 + phase)) * np.sign(np.sin(2 * np.pi * yy / 8 + phase))
        elif k == 5:  # rings
            cy, cx = rng.uniform(12, size - 12, 2)
            img = np.sin(2 * np.pi * np.hypot(yy - cy, xx - cx) / period)
        else:  # dark and flat
            img = np.full_like(xx, -0.6)
        img = 128 + rng.uniform(60, 100) * img + rng.normal(0, noise, img.shape)
        out[i] = np.clip(img, 0, 255).astype(np.uint8)
    return out, y


def identity_centred(model: Any, seed: int = 1) -> Any:
    """Random first 3x3 convolution, identity-centred later ones, zero biases (in place; returns ``model``)."""
    rng = np.random.default_rng(seed)
    first = True
    for layer in model.layers:
        if type(layer).__name__ != "Conv2D":
            continue
        kernel, bias = layer.get_weights()
        kh, kw, cin, cout = kernel.shape
        if first:
            new = rng.normal(0.0, 1.0 / np.sqrt(kh * kw * cin), kernel.shape).astype(np.float32)
            first = False
        else:
            new = np.zeros_like(kernel)
            for c in range(cout):
                new[kh // 2, kw // 2, c % cin, c] = 1.0
        layer.set_weights([new, np.zeros_like(bias)])
    return model


def fit_head(model: Any, keras: Any, x: np.ndarray, y: np.ndarray, margin: float = 8.0) -> Any:
    """Fit the last (Dense, softmax) layer by least squares on the frozen features of ``x`` (float input)
    so that the logits of class ``y`` stand ``margin`` above the rest; returns ``model``."""
    head = model.layers[-1]
    features = keras.Model(model.inputs, head.input).predict(x, batch_size=64, verbose=0)
    n = head.get_weights()[0].shape[1]
    target = margin * (np.eye(n)[y] - 1.0 / n)
    a = np.c_[features.reshape(len(x), -1), np.ones(len(x))]
    w, *_ = np.linalg.lstsq(a, target, rcond=None)
    head.set_weights([w[:-1].astype(np.float32), w[-1].astype(np.float32)])
    return model


def vgg19(keras: Any, channels: int = 3, size: int = 48) -> Any:
    """The original project's recipe, ``VGG19(weights=None, include_top=False)`` + Flatten + Dense(7,
    softmax), built with ``keras`` (Keras 3 or tf_keras) and made meaningful as described above."""
    base = keras.applications.VGG19(weights=None, include_top=False, input_shape=(size, size, channels))
    x = keras.layers.Flatten()(base.output)
    out = keras.layers.Dense(CLASSES, activation="softmax", name="emotions")(x)
    return identity_centred(keras.Model(base.input, out, name="vgg19_fer"))


def small_cnn(keras: Any, channels: int = 1, size: int = 48, classes: int = CLASSES, softmax: bool = True) -> Any:
    """A small gray-input CNN (two convolutions, global max pool, Dense) made meaningful likewise."""
    L = keras.layers
    inp = keras.Input((size, size, channels), name="face")
    x = L.Conv2D(16, 3, padding="same", activation="relu")(inp)
    x = L.MaxPooling2D(2)(x)
    x = L.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = L.GlobalMaxPooling2D()(x)
    out = L.Dense(classes, activation="softmax" if softmax else None, name="emotions")(x)
    return identity_centred(keras.Model(inp, out, name="small_cnn"))


def trained(model: Any, keras: Any, n: int = 280, seed: int = 0, order: Any = None,
            mean: float = 0.0, std: float = 255.0) -> Any:
    """``model`` with its head fitted on ``n`` synthetic faces preprocessed as ``(p - mean) / std``
    (default: scaled to [0, 1]); ``order`` maps texture k to output ``order[k]`` (default: output k)."""
    x, y = faces(n, size=int(model.inputs[0].shape[1]), seed=seed)
    channels = int(model.inputs[0].shape[-1])
    xf = (np.repeat(x[..., None], channels, axis=-1).astype(np.float32) - mean) / std
    return fit_head(model, keras, xf, y if order is None else np.asarray(order)[y])
