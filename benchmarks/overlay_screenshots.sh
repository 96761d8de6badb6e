#!/usr/bin/env bash
# Screenshots of the overlay's two views from a real run under Xvfb (docs/overlay-*.png, docs/raspberry-pi.md §6):
# `python -m edge` shows the public-domain astronaut portrait that scikit-image ships (NASA, Eileen Collins)
# full screen on a virtual 1280x720 X screen; xwd grabs the whole X screen after 10 s (a mood and a song
# by then), and a few lines of numpy turn its 32-bit ZPixmap into a PNG.
# Needs: xvfb (xvfb-run), x11-apps (xwd), the dev extra (scikit-image).
#   bash benchmarks/overlay_screenshots.sh [out folder, default docs]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs}"
py="${PYTHON:-.venv/bin/python}"
photo="$(mktemp -d)/astronaut.png"
"$py" -c "import cv2, skimage.data as d; cv2.imwrite('$photo', cv2.cvtColor(d.astronaut(), cv2.COLOR_RGB2BGR))"
for view in now-playing camera; do
  xvfb-run -a -s "-screen 0 1280x720x24" bash -c "
    SDL_AUDIODRIVER=dummy '$py' -m edge --source '$photo' --loop --realtime --display --fullscreen \
      --overlay-view $view --max-frames 450 & pid=\$!
    sleep 10; xwd -root -silent > '$out/.overlay-$view.xwd'; wait \$pid"
  "$py" - "$out/.overlay-$view.xwd" "$out/overlay-$view.png" <<'PY'
import struct, sys
import cv2, numpy as np
data = open(sys.argv[1], "rb").read()
h = struct.unpack(">25I", data[:100])  # XWDFileHeader: header_size, ..., width [4], height [5], byte_order [7],
size, w, hh, order, bpp, bpl, ncolors = h[0], h[4], h[5], h[7], h[11], h[12], h[19]  # bpp [11], bpl [12]
assert bpp == 32, f"expected a 24-bit X screen (32 bits per pixel), got {bpp}"
px = np.frombuffer(data, np.uint8, count=bpl * hh, offset=size + 12 * ncolors).reshape(hh, bpl)[:, :4 * w]
px = px.reshape(hh, w, 4)
cv2.imwrite(sys.argv[2], px[:, :, :3] if order == 0 else px[:, :, 1:][:, :, ::-1])  # LSBFirst: B, G, R, x
PY
  rm -f "$out/.overlay-$view.xwd"
  echo "wrote $out/overlay-$view.png"
done
