"""Solutions of the exercises of notebook 03 (ASPP)."""

from __future__ import annotations

from keras import layers

from course_utils.model.layers import ResizeLike

# Exercise 1: on the paper's 33x33 training map (513x513 crops, output stride 16) a tap at offset
# +-r stays inside the map for some position as long as r <= 32 (position 0 sees position r); from
# r = 33 on, no off-centre tap is ever inside, and every position keeps only the centre weight.
answer_1 = 33

# Exercise 2: the map is twice as large at output stride 8, so the rates double.
answer_2 = tuple(2 * r for r in (6, 12, 18))

# Exercise 3: 1x1, three 3x3, pooling 1x1 and the projection of 5 x 256 channels; six BatchNorms.
c_in, f = 512, 256
answer_3 = c_in * f + 3 * (9 * c_in * f) + c_in * f + 5 * f * f + 6 * 4 * f


def pooling_branch(features):
    """Exercise 4: global average pooling, 1x1 convolution, resize to the size of `features` at run time."""
    pooled = layers.GlobalAveragePooling2D(keepdims=True)(features)
    pooled = layers.Conv2D(8, 1)(pooled)
    return ResizeLike()([pooled, features])


def my_aspp(features, rates, filters, name):
    """Exercise 5: the five branches, concatenation and the 1x1 projection, Conv -> BN -> ReLU everywhere."""

    def conv_bn_relu(x, kernel, rate, branch):
        x = layers.Conv2D(filters, kernel, padding="same", dilation_rate=rate, use_bias=False, name=f"{branch}_conv")(x)
        x = layers.BatchNormalization(epsilon=1e-5, name=f"{branch}_bn")(x)
        return layers.ReLU()(x)

    branches = [conv_bn_relu(features, 1, 1, f"{name}_1x1")]
    branches += [conv_bn_relu(features, 3, r, f"{name}_rate{r}") for r in rates]
    pooled = layers.GlobalAveragePooling2D(keepdims=True)(features)
    branches.append(ResizeLike()([conv_bn_relu(pooled, 1, 1, f"{name}_pool"), features]))
    return conv_bn_relu(layers.Concatenate()(branches), 1, 1, f"{name}_proj")
