"""Benign pictures for tests, the demo and benchmarks.

``make_picture(seed)`` draws a deterministic, photo-like synthetic scene:
a smooth colour field, a lighting gradient, soft and hard-edged shapes, and
some texture and sensor-like noise. The layout is defined in relative
coordinates, so one seed at two sizes of one aspect ratio is nearly the same
scene, and different seeds give unrelated perceptual hashes with high PDQ quality.

``package_photos()`` returns real photographs shipped inside open packages that
are installed (scikit-image's bundled sample data), read straight from the
package's data folder without importing the package. Everything here is benign:
generated shapes, or the public sample photos of an open-source library.
"""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

# scikit-image's bundled photographs (benign: an astronaut portrait, a cat,
# coffee, coins, a rocket, a motorcycle, the Hubble deep field, ...). Only
# files that are natural photographs, not charts or synthetic test patterns.
_SKIMAGE_PHOTOS = (
    "astronaut.png",
    "camera.png",
    "chelsea.png",
    "coffee.png",
    "coins.png",
    "hubble_deep_field.jpg",
    "motorcycle_left.png",
    "rocket.jpg",
    "brick.png",
    "grass.png",
    "gravel.png",
    "moon.png",
    "retina.jpg",
    "ihc.png",
)


_SCENE_SIDE = 1280


def _smooth_field(
    rng: np.random.Generator, grid: tuple[int, int], size: tuple[int, int]
) -> np.ndarray:
    """A random low-resolution grid upsampled bicubically: smooth variation."""
    gw, gh = grid
    cells = rng.uniform(0, 255, size=(gh, gw, 3)).astype(np.uint8)
    field = Image.fromarray(cells, "RGB").resize(size, Image.Resampling.BICUBIC)
    return np.asarray(field, dtype=np.float32)


def _draw_shapes(
    rng: np.random.Generator, size: tuple[int, int], count: int
) -> Image.Image:
    """Random ellipses, rectangles and polygons on a transparent layer."""
    width, height = size
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    scale = min(width, height)
    for _ in range(count):
        kind = int(rng.integers(0, 3))
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        rx = rng.uniform(0.04, 0.30) * scale
        ry = rng.uniform(0.04, 0.30) * scale
        colour = (
            *(int(c) for c in rng.integers(0, 256, 3)),
            int(rng.integers(150, 256)),
        )
        box = (cx - rx, cy - ry, cx + rx, cy + ry)
        if kind == 0:
            draw.ellipse(box, fill=colour)
        elif kind == 1:
            draw.rectangle(box, fill=colour)
        else:
            sides = int(rng.integers(3, 7))
            angles = np.sort(rng.uniform(0, 2 * np.pi, sides))
            points = [
                (float(cx + rx * np.cos(a)), float(cy + ry * np.sin(a))) for a in angles
            ]
            draw.polygon(points, fill=colour)
    return layer


def make_picture(seed: int, width: int = 640, height: int = 480) -> Image.Image:
    """A deterministic photo-like RGB picture for ``seed``.

    The same seed at another size of the same aspect ratio is nearly the same
    scene (PDQ within ~12 bits of 640x480 at 4000x3000); a different aspect
    ratio gives a different layout. Tests that need an exact resized copy
    should resize one picture instead.
    """
    if width < 8 or height < 8:
        raise ValueError(f"picture size {width}x{height} is too small (min 8x8)")
    rng = np.random.default_rng(seed)
    # The scene is drawn at most _SCENE_SIDE px on its long side and resized up:
    # the same seed then gives the same scene at every size, and a 12 MP
    # picture takes a fraction of a second. Fine noise is added at full size.
    shrink = min(1.0, _SCENE_SIDE / max(width, height))
    size = (max(8, round(width * shrink)), max(8, round(height * shrink)))
    scene_w, scene_h = size

    # Smooth background colour field plus a lighting gradient.
    grid = (int(rng.integers(3, 7)), int(rng.integers(3, 6)))
    background = _smooth_field(rng, grid, size)
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:scene_h, 0:scene_w].astype(np.float32)
    ramp = np.cos(angle) * xs / scene_w + np.sin(angle) * ys / scene_h
    ramp -= ramp.mean()
    background += (rng.uniform(60, 120) * ramp)[..., None]
    base = Image.fromarray(np.clip(background, 0, 255).astype(np.uint8), "RGB")

    # Soft (blurred) shapes far away, sharp shapes in front.
    soft = _draw_shapes(rng, size, int(rng.integers(4, 9)))
    soft = soft.filter(ImageFilter.GaussianBlur(max(1.0, 0.02 * min(size))))
    base.paste(soft, (0, 0), soft)
    sharp = _draw_shapes(rng, size, int(rng.integers(5, 12)))
    base.paste(sharp, (0, 0), sharp)

    # Mid-frequency texture that scales with the scene.
    pixels = np.asarray(base, dtype=np.float32)
    pixels += 0.12 * (_smooth_field(rng, (40, 30), size) - 127.5)
    scene = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    if scene.size != (width, height):
        scene = scene.resize((width, height), Image.Resampling.BICUBIC)

    # Fine sensor-like noise at full resolution (seeded after the scene).
    noise = rng.integers(-4, 5, size=(height, width, 1), dtype=np.int16)
    out = np.asarray(scene, dtype=np.int16) + noise
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), "RGB")


def encode(img: Image.Image, fmt: str = "JPEG", quality: int = 90) -> bytes:
    """Encode ``img`` in ``fmt`` (any format Pillow writes) and return the bytes."""
    buffer = io.BytesIO()
    fmt = fmt.upper()
    if fmt in {"JPEG", "JPG"}:
        img.convert("RGB" if img.mode not in {"L", "RGB", "CMYK"} else img.mode).save(
            buffer, "JPEG", quality=quality
        )
    elif fmt == "WEBP":
        img.save(buffer, "WEBP", quality=quality)
    elif fmt in {"HEIF", "HEIC", "AVIF"}:
        import pillow_heif  # noqa: PLC0415 - optional encoder, registered on use

        pillow_heif.register_heif_opener()
        img.save(buffer, "HEIF", quality=quality)
    else:
        img.save(buffer, fmt)
    return buffer.getvalue()


def _skimage_data_dir() -> Path | None:
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    return folder if folder.is_dir() else None


def package_photos() -> list[Image.Image]:
    """Real photographs bundled with installed open packages (may be empty).

    Today that is scikit-image's sample data (install ``scikit-image``); the
    files are read directly, the package is not imported. Each picture is
    returned fully loaded, in RGB. With nothing installed the list is empty and
    callers fall back to ``make_picture``.
    """
    folder = _skimage_data_dir()
    if folder is None:
        return []
    photos: list[Image.Image] = []
    for name in _SKIMAGE_PHOTOS:
        path = folder / name
        if not path.is_file():
            continue
        with Image.open(path) as img:
            img.load()
            photos.append(img.convert("RGB"))
    return photos


# -- transformations ----------------------------------------------------------
# What happens to a picture as it is copied around: used by the tests and by
# benchmarks/calibrate.py to measure which copies each hash still matches.


def _recompress(img: Image.Image, quality: int) -> Image.Image:
    with Image.open(io.BytesIO(encode(img, "JPEG", quality))) as copy:
        copy.load()
        return copy.convert("RGB")


def _resize(img: Image.Image, factor: float) -> Image.Image:
    size = (max(8, round(img.width * factor)), max(8, round(img.height * factor)))
    return img.resize(size, Image.Resampling.LANCZOS)


def _crop(img: Image.Image, fraction: float) -> Image.Image:
    """Cut ``fraction`` of each dimension, split between the two sides."""
    dx, dy = round(img.width * fraction / 2), round(img.height * fraction / 2)
    return img.crop((dx, dy, img.width - dx, img.height - dy))


def _letterbox(img: Image.Image) -> Image.Image:
    """Black bars above and below, as when a 4:3 picture is shown at 16:9
    inside a taller frame (each bar 12% of the new height)."""
    bar = round(img.height * 0.12 / 0.76)
    out = Image.new("RGB", (img.width, img.height + 2 * bar), (0, 0, 0))
    out.paste(img.convert("RGB"), (0, bar))
    return out


def _frame(img: Image.Image) -> Image.Image:
    """A white frame of 6% of the short side on all four sides."""
    pad = round(min(img.size) * 0.06)
    out = Image.new("RGB", (img.width + 2 * pad, img.height + 2 * pad), (255, 255, 255))
    out.paste(img.convert("RGB"), (pad, pad))
    return out


def _watermark(img: Image.Image) -> Image.Image:
    """Semi-transparent text in the lower right corner (~6% of the height)."""
    out = img.convert("RGBA")
    layer = Image.new("RGBA", out.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    font = ImageFont.load_default(size=max(10, round(img.height * 0.06)))
    text = "SAMPLE (c) 2026"
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    x = img.width - (right - left) - round(img.width * 0.03)
    y = img.height - (bottom - top) - round(img.height * 0.05)
    draw.text((x, y), text, font=font, fill=(255, 255, 255, 170))
    return Image.alpha_composite(out, layer).convert("RGB")


# crop-N cuts N% of the width and of the height, half from each edge.
TRANSFORMS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "resize-50": lambda img: _resize(img, 0.5),
    "resize-25": lambda img: _resize(img, 0.25),
    "upscale-150": lambda img: _resize(img, 1.5),
    "jpeg-q70": lambda img: _recompress(img, 70),
    "jpeg-q50": lambda img: _recompress(img, 50),
    "greyscale": lambda img: img.convert("L").convert("RGB"),
    "crop-2": lambda img: _crop(img, 0.02),
    "crop-5": lambda img: _crop(img, 0.05),
    "crop-10": lambda img: _crop(img, 0.10),
    "letterbox": _letterbox,
    "frame": _frame,
    "watermark": _watermark,
    "flip-h": lambda img: img.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    "flip-v": lambda img: img.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
    "rotate-90": lambda img: img.transpose(Image.Transpose.ROTATE_90),
    "rotate-180": lambda img: img.transpose(Image.Transpose.ROTATE_180),
    "rotate-270": lambda img: img.transpose(Image.Transpose.ROTATE_270),
    "resize-50+jpeg-q70": lambda img: _recompress(_resize(img, 0.5), 70),
}
"""Named transformations: a picture in, the modified copy out (RGB)."""
