import numpy as np
import pytest
from PIL import Image

from faceseg.io import (
    InputError,
    NoFaceError,
    atomic_output,
    read_image,
    read_landmarks,
    write_landmarks,
)


def test_landmark_roundtrip(tmp_path):
    pts = np.array([[1.5, 2.25], [3.0, 4.0]])
    write_landmarks(tmp_path / "a.txt", pts)
    np.testing.assert_allclose(read_landmarks(tmp_path / "a.txt", (10, 10)), pts)


def test_no_face_file_keeps_the_reason(tmp_path):
    write_landmarks(tmp_path / "a.txt", None, "no face found by the dlib HOG and CNN detectors")
    with pytest.raises(NoFaceError, match="no face found by the dlib HOG and CNN detectors"):
        read_landmarks(tmp_path / "a.txt")


@pytest.mark.parametrize(
    "text, kwargs, message",
    [
        ("3\n1 1\n2 2\n3 3\n", {"n_points": 106}, "expected 106 landmarks, the file declares 3"),
        ("3\n1 1\n2 2\n", {}, "declares 3 points but has 2 point lines"),
        ("2\n1 1\n2 abc\n", {}, "non-numeric landmark value"),
        ("x\n1 1\n", {}, "first line must be the point count"),
        ("2\n1 1\n2 2 2\n", {}, "exactly two numbers"),
        ("2\n1 1\n500 2\n", {"image_shape": (100, 100)},
         r"1 landmark\(s\) outside the 100x100 image, first is point 1"),
        ("", {}, "empty landmark file"),
    ],
)
def test_bad_landmark_files(tmp_path, text, kwargs, message):
    path = tmp_path / "lm.txt"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as err:
        read_landmarks(path, **kwargs)
    assert "lm.txt" in str(err.value)


def test_atomic_output_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    with atomic_output(target) as tmp:
        tmp.write_text("whole")
    assert target.read_text() == "whole" and list(tmp_path.iterdir()) == [target]


def test_atomic_output_removes_what_a_killed_attempt_left(tmp_path):
    stale = tmp_path / ".out.zarr.tmp-deadbeef"
    (stale / "X").mkdir(parents=True)
    other = tmp_path / ".other.zarr.tmp-deadbeef"
    other.mkdir()
    with atomic_output(tmp_path / "out.zarr") as tmp:
        tmp.mkdir()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.zarr.tmp-deadbeef", "out.zarr"]


# -- images as cameras and tools write them: read as a viewer shows them ----------------------------------------

def _photo(fasseg_root):
    return np.asarray(Image.open(fasseg_root / "V1" / "Test_RGB" / "1.png").convert("RGB"))


def test_exif_orientation_is_applied(tmp_path, fasseg_root):
    upright = _photo(fasseg_root)
    # Orientation 6: the stored raster is turned 90 degrees anticlockwise; a viewer turns it back clockwise.
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(upright, 1)))
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(tmp_path / "phone.png", exif=exif)
    assert (read_image(tmp_path / "phone.png") == upright).all()


def test_16_bit_grey_is_scaled_to_8_bits(tmp_path, fasseg_root):
    grey = np.asarray(Image.fromarray(_photo(fasseg_root)).convert("L"))
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "wide.png")
    assert Image.open(tmp_path / "wide.png").mode.startswith("I")
    image = read_image(tmp_path / "wide.png")
    assert image.shape == (*grey.shape, 3) and (image == grey[..., None]).all()


def test_palette_grey_and_cmyk_become_rgb(tmp_path, fasseg_root):
    photo = Image.fromarray(_photo(fasseg_root))
    palette = photo.quantize(64)
    palette.save(tmp_path / "palette.png")
    assert (read_image(tmp_path / "palette.png") == np.asarray(palette.convert("RGB"))).all()
    photo.convert("L").save(tmp_path / "grey.png")
    grey = read_image(tmp_path / "grey.png")
    assert (grey == np.asarray(photo.convert("L"))[..., None]).all()
    photo.convert("CMYK").save(tmp_path / "cmyk.tif")
    assert np.abs(read_image(tmp_path / "cmyk.tif").astype(int) - _photo(fasseg_root)).mean() < 2


def test_transparency_is_laid_on_white(tmp_path, fasseg_root):
    rgba = np.dstack([_photo(fasseg_root), np.full(_photo(fasseg_root).shape[:2], 255, np.uint8)])
    rgba[:50, :, 3] = 0  # a cut-out: the top rows transparent
    rgba[:50, :, :3] = 0  # what is stored under them is black
    Image.fromarray(rgba).save(tmp_path / "cutout.png")
    image = read_image(tmp_path / "cutout.png")
    assert (image[:50] == 255).all() and (image[50:] == _photo(fasseg_root)[50:]).all()


def test_a_large_jpeg_is_decoded_small_when_it_is_wanted_small(tmp_path, fasseg_root):
    import cv2

    from faceseg.io import image_shape, read_image, read_image_reduced

    face = read_image(fasseg_root / "V1" / "Train_RGB" / "1.png")
    big = cv2.resize(face, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    Image.fromarray(big).save(tmp_path / "big.jpg", quality=95)
    Image.fromarray(big).save(tmp_path / "big.png")
    full = read_image(tmp_path / "big.jpg")
    small, reduction = read_image_reduced(tmp_path / "big.jpg", 0.3)  # 1/2 >= 0.3 > 1/4
    assert reduction == 2 and small.shape == (full.shape[0] // 2, full.shape[1] // 2, 3)
    shrunk = cv2.resize(full, small.shape[1::-1], interpolation=cv2.INTER_AREA)
    assert np.abs(small.astype(int) - shrunk).mean() < 2.0
    assert read_image_reduced(tmp_path / "big.jpg", 0.1)[1] == 8
    assert read_image_reduced(tmp_path / "big.jpg", 1.0)[1] == 1
    png, reduction = read_image_reduced(tmp_path / "big.png", 0.1)  # other formats: read whole
    assert reduction == 1 and np.array_equal(png, big)
    assert image_shape(tmp_path / "big.jpg") == full.shape[:2]


def test_the_shape_from_the_header_follows_the_exif_orientation(tmp_path):
    from faceseg.io import image_shape, read_image

    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (40, 30)).save(tmp_path / "phone.jpg", exif=exif)
    assert image_shape(tmp_path / "phone.jpg") == read_image(tmp_path / "phone.jpg").shape[:2] == (40, 30)
    with pytest.raises(InputError, match="not a readable image"):
        (tmp_path / "broken.jpg").write_bytes(b"not a picture")
        image_shape(tmp_path / "broken.jpg")
