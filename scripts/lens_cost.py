"""What camera and lens requests cost: a 4 s 16:9 clip with a pan, with and without a rack focus (shipped weights).

    .venv/bin/python scripts/lens_cost.py [ROUNDS]   # wall seconds per request: median and min over ROUNDS (default 5)

One warm-up round first. Single runs on this 2-core machine vary a lot (session 13: the same code's pinhole pan took
2.94 s to 3.9 s within one sitting), so compare medians taken in the same sitting.
"""

import statistics
import sys
import time

from kino.controls import CameraControl, CameraMove
from kino.generate import GenerateRequest, generate
from kino.world.scene import CameraKey

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
rack = (CameraKey(t=0.0, focus=6.0, aperture=1.4), CameraKey(t=1.0, focus=14.0, aperture=1.4))
cameras = {"pan, pinhole": CameraControl(preset=CameraMove(pan=4)), "pan, rack focus f/1.4": CameraControl(preset=CameraMove(pan=4), keys=rack)}
times: dict[str, list[float]] = {name: [] for name in cameras}
for rnd in range(rounds + 1):
    for name, cam in cameras.items():
        req = GenerateRequest(prompt="a red ball rolls on grass", seconds=4, ratio="16:9", seed=1, camera=cam)
        t = time.perf_counter()
        generate(req)
        if rnd:  # round 0 warms up
            times[name].append(time.perf_counter() - t)
for name, ts in times.items():
    print(f"{name}: median {statistics.median(ts):.2f} s, min {min(ts):.2f} s over {len(ts)}")
