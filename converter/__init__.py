"""moodplayer's workstation side: train emotion models and turn them into TFLite bundles.

Needs TensorFlow (``pip install moodplayer[converter]``); the device side (``edge``) never does.
"""

__version__ = "0.1.0"
