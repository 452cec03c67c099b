"""Solutions of the exercises of notebook 01 (atrous convolution)."""

from __future__ import annotations

import numpy as np

# Exercise 1: k + (k - 1)(r - 1) for a 3x3 kernel at rate 6.
answer_1 = 3 + (3 - 1) * (6 - 1)

# Exercise 2: 1 -> +6 (7x7, jump 1) = 7 -> +2*2 (pool, jump 2) = 11 -> +2*4 (3x3, jump 4) = 19
#   -> +4*4 (3x3 rate 2 has effective size 5, jump 4) = 35
answer_2 = 1 + 6 * 1 + 2 * 2 + 2 * 4 + 4 * 4


def my_atrous_conv1d(x, kernel, rate):
    """Exercise 3: 'same'-padded 1-D atrous convolution with loops."""
    e = len(kernel) + (len(kernel) - 1) * (rate - 1)
    before = (e - 1) // 2
    padded = np.concatenate([np.zeros(before), x, np.zeros(e - 1 - before)])
    return np.array([sum(kernel[k] * padded[i + k * rate] for k in range(len(kernel))) for i in range(len(x))])


# Exercise 4: balanced ternary: sums of {-1, 0, 1} + {-3, 0, 3} + {-9, 0, 9} reach every offset
# from -13 to 13, a 27x27 field without holes.
answer_4 = (1, 3, 9)
