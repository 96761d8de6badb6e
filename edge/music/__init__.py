"""Music that fits the room's mood.

``library`` (songs by mood, and the ``Picker`` that chooses the next one), ``player`` (pygame on its
own thread), ``idle`` (when nobody has been seen for a while). Import the submodules directly:
``player`` pulls in pygame, the others don't.
"""
