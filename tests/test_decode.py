"""The shared decoder: orientation, colour modes, animations, and refusals with clear messages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data_helpers import photo, write_huge_png, write_photo
from imgclf.data.decode import DecodeError, decode_image, open_image, read_header


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    pixels = np.zeros((20, 40, 3), dtype=np.uint8)
    pixels[:, :20] = (255, 0, 0)  # left half red
    pixels[:, 20:] = (0, 0, 255)  # right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": the stored left edge becomes the top
    path = tmp_path / "rotated.jpg"
    Image.fromarray(pixels).save(path, quality=95, exif=exif)
    out = decode_image(path)
    assert out.shape == (40, 20, 3)
    assert out[2, 10, 0] > 200 and out[2, 10, 2] < 60  # top is red
    assert out[-3, 10, 2] > 200 and out[-3, 10, 0] < 60  # bottom is blue


def _grey() -> Image.Image:
    return Image.new("L", (16, 8), 100)


def _transparent() -> Image.Image:
    return Image.new("RGBA", (16, 8), (0, 0, 0, 0))


def _palette() -> Image.Image:
    img = Image.new("P", (16, 8), 1)
    img.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    return img


def _cmyk() -> Image.Image:
    return Image.new("CMYK", (16, 8), (0, 0, 0, 0))


def _sixteen_bit() -> Image.Image:
    return Image.fromarray(np.full((8, 16), 65535, dtype=np.uint16))


@pytest.mark.parametrize(
    ("make", "fmt", "expected"),
    [
        (_grey, "PNG", (100, 100, 100)),
        (_transparent, "PNG", (255, 255, 255)),  # transparency composited on white
        (_palette, "GIF", (10, 20, 30)),
        (_cmyk, "TIFF", (255, 255, 255)),
        (_sixteen_bit, "PNG", (255, 255, 255)),  # 16-bit full scale -> 8-bit full scale
    ],
    ids=["grayscale", "rgba", "palette", "cmyk", "16-bit"],
)
def test_every_mode_becomes_8bit_rgb(tmp_path: Path, make, fmt: str, expected: tuple[int, int, int]) -> None:
    path = tmp_path / f"image.{fmt.lower()}"
    make().save(path, fmt)
    out = decode_image(path)
    assert out.dtype == np.uint8
    assert out.shape == (8, 16, 3)
    np.testing.assert_allclose(out[4, 8], expected, atol=2)


def test_sixteen_bit_gradient_keeps_its_range(tmp_path: Path) -> None:
    ramp = np.tile(np.linspace(0, 60000, 32, dtype=np.uint16), (4, 1))
    path = tmp_path / "ramp.png"
    Image.fromarray(ramp).save(path)
    out = decode_image(path)
    assert out[..., 0].min() == 0 and out[..., 0].max() == 255
    assert np.all(np.diff(out[0, :, 0].astype(int)) >= 0)


def test_animated_gif_gives_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (10, 10), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(path).n_frames == 3
    np.testing.assert_allclose(decode_image(path)[5, 5], (255, 0, 0), atol=2)


def test_resize_and_bytes_input_match_the_path_input(tmp_path: Path) -> None:
    path = write_photo(tmp_path / "a.png", seed=1, size=48, fmt="PNG")
    from_path = decode_image(path, 32)
    assert from_path.shape == (32, 32, 3)
    np.testing.assert_array_equal(decode_image(path.read_bytes(), 32), from_path)


def test_pixel_cap_refuses_before_decoding(tmp_path: Path) -> None:
    path = write_photo(tmp_path / "big.png", seed=2, size=64, fmt="PNG")
    with pytest.raises(DecodeError, match=r"64x64 = 4,096 pixels, over the limit of 1,000"):
        decode_image(path, max_pixels=1000)
    assert decode_image(path, max_pixels=4096).shape == (64, 64, 3)


def _truncated_jpeg(path: Path) -> None:
    buf = path.with_suffix(".full.jpg")
    photo(3, 128).save(buf, quality=90)
    data = buf.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (_truncated_jpeg, "damaged or truncated"),
        (lambda p: p.write_bytes(b""), r"empty \(0 bytes\)"),
        (lambda p: p.write_text("this is a shopping list, not a photo\n"), "not an image"),
    ],
    ids=["truncated-jpeg", "zero-byte", "text-named-jpg"],
)
def test_bad_files_raise_decode_error_naming_the_file(tmp_path: Path, write, message: str) -> None:
    path = tmp_path / "bad.jpg"
    write(path)
    with pytest.raises(DecodeError, match=message) as info:
        decode_image(path)
    assert "bad.jpg" in str(info.value)


def test_missing_file_is_a_decode_error(tmp_path: Path) -> None:
    with pytest.raises(DecodeError, match="Cannot read"):
        open_image(tmp_path / "nope.jpg")


def test_decompression_bomb_is_refused_with_its_real_size(tmp_path: Path) -> None:
    bomb = write_huge_png(tmp_path / "bomb.png", 30000, 30000)
    assert read_header(bomb.read_bytes()) == ("PNG", (30000, 30000))
    with pytest.raises(
        DecodeError, match=r"bomb.png' is 30000x30000 = 900,000,000 pixels, over the limit of 89,000,000"
    ):
        decode_image(bomb)
