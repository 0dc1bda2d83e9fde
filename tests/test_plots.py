"""The quick-look sheet draws large images reduced (imaging/plots.py: reduced), keeping
what a user looks for in them."""
import numpy as np
import pytest

from imaging import plots

pytestmark = pytest.mark.fast


def test_small_images_are_drawn_as_they_are():
    data = np.arange(12.0).reshape(3, 4)
    pixels, extent = plots.reduced(data, most=4)
    assert pixels is data and extent == (-0.5, 3.5, -0.5, 2.5)


def test_large_images_keep_each_blocks_largest_magnitude_in_the_images_pixels():
    """A 1000 x 700 image drawn at most 512 per side: blocks of 2 x 2 (the last column
    of blocks padded), a point source's peak and a negative residual survive, a block
    all NaN (outside the pb) stays NaN, and the extent spans the padded image's pixels."""
    data = np.zeros((700, 1000))
    data[101, 303] = 5.0           # a point source
    data[400, 600] = -3.0          # a negative residual beside a smaller positive one
    data[401, 601] = 2.0
    data[600:602, 800:802] = np.nan
    pixels, extent = plots.reduced(data, most=512)
    assert pixels.shape == (350, 500)
    assert pixels[50, 151] == 5.0 and pixels[200, 300] == -3.0
    assert np.isnan(pixels[300, 400]) and np.nansum(np.abs(pixels)) == 8.0
    assert extent == (-0.5, 999.5, -0.5, 699.5)
    odd = plots.reduced(np.ones((5, 1025)), most=512)
    assert odd[0].shape == (2, 342) and odd[1] == (-0.5, 1025.5, -0.5, 5.5)
