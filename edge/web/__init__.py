"""The companion, ``python -m edge web``: a phone page, a JSON API and MQTT for Home Assistant, fed by the
camera process's control socket. It never sees a frame and the camera process never sees the network
(docs/web.md). Only this package imports aiohttp and paho-mqtt (the ``web`` extra)."""
