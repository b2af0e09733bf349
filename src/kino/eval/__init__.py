"""`kino eval`: exact, weight-free metrics scored against Kino World ground truth (design/eval.md).

A parser reads objects, camera motion and optical flow back out of pixels (`parse.parse_video`); each
metric in `metrics.METRICS` compares that parsed state with the clip's ground-truth JSON. Run the same
parser on the ground-truth render to get each metric's floor.
"""

from kino.eval.metrics import METRICS, Metric, score_clip
from kino.eval.parse import Parsed, parse_video

__all__ = ["METRICS", "Metric", "Parsed", "parse_video", "score_clip"]
