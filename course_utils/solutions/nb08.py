"""Solutions of the exercises of notebook 08 (experiments); the notebook still shows them in collapsed cells."""

from __future__ import annotations

import math

# Exercise 1: the pooling branch's 1x1 convolution (512 x 256, no bias) and BatchNorm (4 x 256) on
# ResNet-18, plus 256 more input channels of the projection after the concatenation (256 x 256).
answer_1 = 512 * 256 + 4 * 256 + 256 * 256

# Exercise 2: 'same' padding rounds up at every stride-2 step: ceil(513 / 8) per side.
answer_2 = (math.ceil(513 / 8), math.ceil(513 / 8))


def best_efficiency(rows) -> str:
    """Exercise 3: the trained variant with the highest validation mIoU per million parameters."""
    scored = [r for r in rows if r["val_miou"] is not None and r["params"]]
    return max(scored, key=lambda r: r["val_miou"] / (r["params"] / 1e6))["variant"]
