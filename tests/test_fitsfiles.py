"""The FITS copies of the final images (scripts/imaging/fitsfiles.py). Their pixels, beam
and axes are held against tclean's images on the real EVLA data in test_real_evla.py."""
import pytest

from imaging import fitsfiles


@pytest.mark.fast
@pytest.mark.parametrize("names, kept", [
    (["image.tt0", "image.tt1", "image.tt0.pbcor", "residual.tt0", "model.tt1", "pb.tt0",
      "alpha", "alpha.error", "mask", "psf.tt0", "psf.tt2", "weight.tt0", "sumwt.tt1"],
     ["alpha", "alpha.error", "image.tt0", "image.tt0.pbcor", "image.tt1", "mask", "model.tt1",
      "pb.tt0", "residual.tt0"]),
    (["image", "image.pbcor", "residual", "model", "pb", "psf", "weight", "sumwt", "gridwt"],
     ["image", "image.pbcor", "model", "pb", "residual"]),
])
def test_the_images_a_user_keeps_are_exported_and_tcleans_working_images_are_not(
        tmp_path, names, kept):
    for name in names:
        (tmp_path / f"ctb80.{name}").mkdir()
    (tmp_path / "ctb80.image.tt0.fits").write_text("")       # a file, not an image
    (tmp_path / "other.image.tt0").mkdir()                  # another image set
    found = fitsfiles.kept_images(str(tmp_path / "ctb80"))
    assert found == [str(tmp_path / f"ctb80.{k}") for k in kept]
