"""What the warp guide's lens costs: a 4 s 16:9 clip with a pan, with and without a rack focus (shipped weights).

    .venv/bin/python scripts/lens_cost.py   # wall seconds per request, two rounds (the first warms up)
"""

import time

from kino.controls import CameraControl, CameraMove
from kino.generate import GenerateRequest, generate
from kino.world.scene import CameraKey

rack = (CameraKey(t=0.0, focus=6.0, aperture=1.4), CameraKey(t=1.0, focus=14.0, aperture=1.4))
cameras = {"pan, pinhole": CameraControl(preset=CameraMove(pan=4)), "pan, rack focus f/1.4": CameraControl(preset=CameraMove(pan=4), keys=rack)}
for rnd in range(2):
    for name, cam in cameras.items():
        req = GenerateRequest(prompt="a red ball rolls on grass", seconds=4, ratio="16:9", seed=1, camera=cam)
        t = time.perf_counter()
        generate(req)
        print(rnd, name, f"{time.perf_counter() - t:.2f} s")
