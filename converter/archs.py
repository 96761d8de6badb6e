"""Model architectures: the original project's VGG19 recipe and a compact network for the Pi.

Each builder takes the Keras module to build with (Keras 3 by default; ``tf_keras`` to write the
Keras 2 JSON + H5 files that the original project shipped) and returns an uncompiled model whose output
is a softmax over ``num_classes``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _keras(k: Any | None) -> Any:
    if k is None:
        import keras as k  # Keras 3
    return k


def vgg19(num_classes: int = 7, input_shape: tuple[int, int, int] = (48, 48, 3), weights: str | None = None,
          trainable_tail: int = 10, keras: Any | None = None) -> Any:
    """The original recipe: VGG19 base at 48x48x3, its last ``trainable_tail`` layers trainable,
    Flatten + Dense(softmax). ``weights="imagenet"`` needs the weights file already in Keras' cache
    (nothing is downloaded here)."""
    k = _keras(keras)
    base = k.applications.VGG19(weights=weights, include_top=False, input_shape=input_shape)
    for layer in base.layers[:-trainable_tail]:
        layer.trainable = False
    x = k.layers.Flatten()(base.output)
    out = k.layers.Dense(num_classes, activation="softmax", name="emotions")(x)
    return k.Model(base.input, out, name="vgg19_fer")


def edgenet(num_classes: int = 7, input_shape: tuple[int, int, int] = (48, 48, 1), width: int = 40,
            keras: Any | None = None) -> Any:
    """A compact residual CNN for the Pi: 77M multiply-adds and 2.44M parameters a face at width 40
    (``models/default``), 50M and 1.56M at width 32, on 48x48 gray.

    Depthwise-separable convolutions where the feature map is large, full 3x3 convolutions once it is
    6x6 or smaller: on a CPU a full convolution does more work per byte moved, so its multiply-adds pay
    off at low resolution, where the capacity is cheap. Batch norm folds into the convolutions on
    conversion.
    """
    k = _keras(keras)
    L = k.layers

    def conv(x, ch, separable: bool, act: bool = True):
        layer = L.SeparableConv2D if separable else L.Conv2D
        x = L.BatchNormalization()(layer(ch, 3, padding="same", use_bias=False)(x))
        return L.Activation("relu")(x) if act else x

    def down(x, ch, separable: bool):
        """Two convolutions, 3x3/2 max pool, plus a strided 1x1 projection of the input."""
        shortcut = L.BatchNormalization()(L.Conv2D(ch, 1, strides=2, padding="same", use_bias=False)(x))
        y = conv(conv(x, ch, separable), ch, separable, act=False)
        y = L.MaxPooling2D(3, strides=2, padding="same")(y)
        return L.Activation("relu")(L.Add()([y, shortcut]))

    w = width
    inp = k.Input(input_shape, name="face")
    x = conv(inp, w, separable=False)              # 48x48
    x = conv(x, w, separable=True)
    x = L.MaxPooling2D(2)(x)                       # 24x24
    x = down(x, 2 * w, separable=True)             # 12x12
    x = down(x, 4 * w, separable=True)             # 6x6
    x = down(x, 8 * w, separable=False)            # 3x3
    x = conv(x, 8 * w, separable=False)
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dropout(0.4)(x)
    out = L.Dense(num_classes, activation="softmax", name="emotions")(x)
    return k.Model(inp, out, name=f"edgenet{w}")


ARCHS: dict[str, Callable[..., Any]] = {"edgenet": edgenet, "vgg19": vgg19}
#: Input color each architecture expects: gray (1 channel) or RGB (3).
CHANNELS = {"edgenet": 1, "vgg19": 3}


def build(name: str, num_classes: int = 7, **kwargs: Any) -> Any:
    if name not in ARCHS:
        raise ValueError(f"unknown architecture {name!r}: choose from {', '.join(ARCHS)}")
    return ARCHS[name](num_classes=num_classes, **kwargs)


def macs(model: Any) -> int:
    """Multiply-adds for one input, counted over Conv2D, SeparableConv2D, DepthwiseConv2D and Dense."""
    total = 0
    for layer in model.layers:
        kind = type(layer).__name__
        if kind not in ("Conv2D", "SeparableConv2D", "DepthwiseConv2D", "Dense"):
            continue
        out = layer.output.shape
        spatial = int(out[1]) * int(out[2]) if len(out) == 4 else 1
        cin = int(layer.input.shape[-1])
        cout = int(out[-1])
        if kind == "Dense":
            total += cin * cout
            continue
        kh, kw = layer.kernel_size
        if kind == "Conv2D":
            total += spatial * kh * kw * cin * cout
        elif kind == "DepthwiseConv2D":
            total += spatial * kh * kw * cin
        else:
            total += spatial * (kh * kw * cin + cin * cout)
    return total
