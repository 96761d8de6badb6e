"""moodplayer's device runtime: camera -> faces -> emotions -> room mood -> music.

Runs on a Raspberry Pi with numpy, OpenCV 4, a TFLite interpreter and pygame. It never imports
TensorFlow, Keras or the ``converter`` package: the model bundle (``edge.bundle``) is the only thing
the two share.
"""

__version__ = "0.1.0"
