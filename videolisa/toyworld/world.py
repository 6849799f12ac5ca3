"""Objects, motion and rendering of the procedural toy world.

A scene is a short video of 2–5 flat shapes on a dark or noisy background. Coordinates are in
pixels with x to the right and y down; an object's position is the centre of its square bounding
box of side ``size``. Objects are static or move with a constant velocity; a bouncing object
reflects off the frame borders (it never leaves the frame), a passing object does not bounce, so it
may enter or leave the frame. Objects occlude each other in a fixed depth order (depth 0 is nearest
the camera). An object's mask on a frame is its *visible* pixels: inside the frame and not hidden by
a nearer object, so an object that is out of frame has an empty mask there.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from videolisa.errors import ConfigError

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (50, 90, 220),
    "yellow": (230, 210, 40),
    "white": (235, 235, 235),
    "purple": (150, 60, 200),
}
BACKGROUNDS: tuple[str, ...] = ("dark", "noisy", "mixed")

_STAR_INNER_RATIO = 0.45  # inner / outer radius of the five-pointed star
_AXIS_ALIGNED_PROB = 0.5  # share of moving objects whose direction is within 15° of an axis
_MIN_VISIBLE_SHARE = 0.5  # an object is "well visible" on a frame when this share of it shows
_MAX_SCENE_ATTEMPTS = 100


@dataclass(frozen=True)
class WorldConfig:
    """Ranges the random scenes are drawn from (all bounds inclusive).

    Sizes and speeds are fractions of the frame side, the shorter of width and height; no object
    is smaller than ``min_object_px`` pixels (a smaller star looks like a triangle).
    ``static_prob`` is the chance that an object does not move; a moving object passes through
    (does not bounce, so it may leave the frame) with chance ``pass_prob``, and a passing object
    starts outside the frame and enters it with chance ``enter_prob``. ``background`` is "dark"
    (flat dark colour), "noisy" (dark colour plus Gaussian noise of ``noise_std`` grey levels) or
    "mixed" (either, per video). Each video's brightness is scaled by a factor drawn from
    ``1 ± brightness_jitter`` (0 keeps object colours exact).
    """

    min_frames: int = 8
    max_frames: int = 64
    min_size: int = 64
    max_size: int = 128
    min_objects: int = 2
    max_objects: int = 5
    min_object_frac: float = 0.08
    max_object_frac: float = 0.25
    min_object_px: int = 8
    min_speed_frac: float = 0.01
    max_speed_frac: float = 0.05
    static_prob: float = 0.3
    pass_prob: float = 0.3
    enter_prob: float = 0.5
    background: str = "mixed"
    noise_std: float = 12.0
    brightness_jitter: float = 0.05

    def __post_init__(self) -> None:
        _check_range("frames", self.min_frames, self.max_frames, 2, 1000)
        _check_range("size", self.min_size, self.max_size, 64, 4096)
        _check_range("objects", self.min_objects, self.max_objects, 1, 8)
        _check_range("object_frac", self.min_object_frac, self.max_object_frac, 0.01, 0.4)
        if not 3 <= self.min_object_px <= 64:
            raise ConfigError(
                f"min_object_px={self.min_object_px} is out of range.", "Use 3 to 64 pixels."
            )
        _check_range("speed_frac", self.min_speed_frac, self.max_speed_frac, 1e-4, 0.2)
        for name in ("static_prob", "pass_prob", "enter_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(
                    f"{name}={getattr(self, name)} is not a probability.", "Use a value in [0, 1]."
                )
        if self.background not in BACKGROUNDS:
            raise ConfigError(
                f"Unknown background {self.background!r}.",
                f"Use one of: {', '.join(BACKGROUNDS)}.",
            )
        if not 0.0 <= self.noise_std <= 100.0:
            raise ConfigError(f"noise_std={self.noise_std} is out of range.", "Use 0 to 100.")
        if not 0.0 <= self.brightness_jitter <= 0.5:
            raise ConfigError(
                f"brightness_jitter={self.brightness_jitter} is out of range.", "Use 0 to 0.5."
            )


def _check_range(name: str, low: float, high: float, floor: float, ceiling: float) -> None:
    if not floor <= low <= high <= ceiling:
        raise ConfigError(
            f"min_{name}={low}, max_{name}={high} is not a valid range.",
            f"Use {floor} <= min_{name} <= max_{name} <= {ceiling}.",
        )


@dataclass(frozen=True)
class ObjectSpec:
    """One object of a scene: what it looks like and how it moves.

    ``size`` is the side of its bounding box in pixels, ``start`` its centre (x, y) on frame 0,
    ``velocity`` (vx, vy) in pixels per frame (the initial one for a bouncing object), ``depth`` its
    rank from the camera (0 = in front of all others).
    """

    obj_id: int
    shape: str
    colour: str
    size: int
    start: tuple[float, float]
    velocity: tuple[float, float]
    depth: int
    bounces: bool

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ConfigError(f"Unknown shape {self.shape!r}.", f"Use one of: {', '.join(SHAPES)}.")
        if self.colour not in COLOURS:
            raise ConfigError(
                f"Unknown colour {self.colour!r}.", f"Use one of: {', '.join(COLOURS)}."
            )
        if self.size < 3:
            raise ConfigError(f"Object size {self.size} px is too small.", "Use at least 3 px.")

    @property
    def area(self) -> int:
        """Pixels the whole (unoccluded) shape covers."""
        return int(shape_template(self.shape, self.size).sum())

    @property
    def speed(self) -> float:
        """Pixels per frame (constant: bouncing keeps the speed)."""
        return math.hypot(*self.velocity)


@dataclass(frozen=True)
class Scene:
    """Geometry of one video: objects, their paths and masks (no pixels yet).

    ``positions`` (N, T, 2) float centres (x, y); ``footprints`` (N, T, H, W) bool in-frame pixels
    of each whole shape ignoring occlusion; ``masks`` (N, T, H, W) bool visible pixels.
    """

    objects: tuple[ObjectSpec, ...]
    positions: np.ndarray
    footprints: np.ndarray
    masks: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.masks.shape[1])

    @property
    def height(self) -> int:
        return int(self.masks.shape[2])

    @property
    def width(self) -> int:
        return int(self.masks.shape[3])


@functools.lru_cache(maxsize=1024)
def shape_template(shape: str, size: int) -> np.ndarray:
    """Rasterise ``shape`` in a ``size`` × ``size`` box: (size, size) bool, read-only.

    Circle and square fill the box; the triangle points up with its base on the bottom edge; the
    star has five points, the top one up.
    """
    coords = np.arange(size) + 0.5 - size / 2
    u, v = coords[None, :], coords[:, None]
    radius = size / 2
    if shape == "circle":
        mask = u**2 + v**2 <= radius**2
    elif shape == "square":
        mask = np.ones((size, size), dtype=bool)
    elif shape == "triangle":
        mask = _polygon_mask([(0.0, -radius), (radius, radius), (-radius, radius)], u, v)
    elif shape == "star":
        angles = -math.pi / 2 + np.arange(10) * math.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, radius, radius * _STAR_INNER_RATIO)
        vertices = list(zip(radii * np.cos(angles), radii * np.sin(angles), strict=True))
        mask = _polygon_mask(vertices, u, v)
    else:
        raise ConfigError(f"Unknown shape {shape!r}.", f"Use one of: {', '.join(SHAPES)}.")
    mask = np.broadcast_to(mask, (size, size)).copy()
    mask.flags.writeable = False
    return mask


def _polygon_mask(vertices: list[tuple[float, float]], u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Even-odd fill of a polygon at points (u (1, S), v (S, 1)): (S, S) bool."""
    inside = np.zeros(np.broadcast_shapes(u.shape, v.shape), dtype=bool)
    for (x1, y1), (x2, y2) in zip(vertices, vertices[1:] + vertices[:1], strict=True):
        if y1 == y2:
            continue
        crosses = (y1 > v) != (y2 > v)
        x_at = x1 + (v - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (u < x_at)
    return inside


def trajectory(obj: ObjectSpec, num_frames: int, height: int, width: int) -> np.ndarray:
    """Centre of ``obj`` on each frame: (T, 2) float (x, y).

    A bouncing object's centre reflects between ``size / 2`` and ``extent - size / 2`` on each
    axis, so the whole shape stays inside the frame.
    """
    t = np.arange(num_frames, dtype=np.float64)[:, None]
    positions = np.asarray(obj.start, dtype=np.float64) + np.asarray(obj.velocity) * t
    if obj.bounces:
        half = obj.size / 2
        for axis, extent in ((0, width), (1, height)):
            span = extent - obj.size
            folded = np.mod(positions[:, axis] - half, 2 * span)
            positions[:, axis] = half + np.where(folded <= span, folded, 2 * span - folded)
    return positions


def build_scene(objects: tuple[ObjectSpec, ...], num_frames: int, height: int, width: int) -> Scene:
    """Paths, footprints and visible masks of ``objects`` in a T × H × W video."""
    positions = np.stack([trajectory(o, num_frames, height, width) for o in objects])
    footprints = np.zeros((len(objects), num_frames, height, width), dtype=bool)
    for n, obj in enumerate(objects):
        template = shape_template(obj.shape, obj.size)
        corners = np.rint(positions[n] - obj.size / 2).astype(int)
        for t, (x0, y0) in enumerate(corners):
            xa, xb = max(x0, 0), min(x0 + obj.size, width)
            ya, yb = max(y0, 0), min(y0 + obj.size, height)
            if xa < xb and ya < yb:
                footprints[n, t, ya:yb, xa:xb] = template[ya - y0 : yb - y0, xa - x0 : xb - x0]
    masks = np.zeros_like(footprints)
    covered = np.zeros(footprints.shape[1:], dtype=bool)
    for n in np.argsort([o.depth for o in objects], kind="stable"):
        masks[n] = footprints[n] & ~covered
        covered |= footprints[n]
    return Scene(objects=objects, positions=positions, footprints=footprints, masks=masks)


def sample_scene(rng: np.random.Generator, config: WorldConfig) -> Scene:
    """Draw a random scene in which every object is well visible on a few frames.

    "Well visible" means at least half of the shape shows on ``max(2, T // 8)`` frames, so every
    object can be seen (and asked about) in the video.
    """
    for _ in range(_MAX_SCENE_ATTEMPTS):
        num_frames = int(rng.integers(config.min_frames, config.max_frames + 1))
        height = int(rng.integers(config.min_size, config.max_size + 1))
        width = int(rng.integers(config.min_size, config.max_size + 1))
        objects = _sample_objects(rng, config, num_frames, height, width)
        scene = build_scene(objects, num_frames, height, width)
        areas = np.array([o.area for o in objects])
        well_visible = scene.masks.sum(axis=(2, 3)) >= _MIN_VISIBLE_SHARE * areas[:, None]
        if (well_visible.sum(axis=1) >= max(2, num_frames // 8)).all():
            return scene
    raise ConfigError(
        f"No scene with every object visible in {_MAX_SCENE_ATTEMPTS} tries.",
        "Use fewer or smaller objects, or larger frames.",
    )


def _sample_objects(
    rng: np.random.Generator, config: WorldConfig, num_frames: int, height: int, width: int
) -> tuple[ObjectSpec, ...]:
    count = int(rng.integers(config.min_objects, config.max_objects + 1))
    side = min(height, width)
    depths = rng.permutation(count)
    objects = []
    for obj_id in range(count):
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        colour = tuple(COLOURS)[int(rng.integers(len(COLOURS)))]
        fraction = rng.uniform(config.min_object_frac, config.max_object_frac)
        size = max(config.min_object_px, round(fraction * side))
        inside = (
            float(rng.uniform(size / 2, width - size / 2)),
            float(rng.uniform(size / 2, height - size / 2)),
        )
        start, velocity, bounces = inside, (0.0, 0.0), False
        if rng.random() >= config.static_prob:
            speed = rng.uniform(config.min_speed_frac, config.max_speed_frac) * side
            bounces = bool(rng.random() >= config.pass_prob)
            if not bounces and rng.random() < config.enter_prob:
                start, velocity = _entering(rng, speed, size, num_frames, height, width)
            else:
                angle = _direction(rng)
                velocity = (speed * math.cos(angle), speed * math.sin(angle))
        objects.append(
            ObjectSpec(obj_id, shape, colour, size, start, velocity, int(depths[obj_id]), bounces)
        )
    return tuple(objects)


def _direction(rng: np.random.Generator) -> float:
    """A heading in radians, often close to one of the four axes."""
    if rng.random() < _AXIS_ALIGNED_PROB:
        return float(int(rng.integers(4)) * math.pi / 2 + rng.uniform(-1, 1) * math.radians(15))
    return float(rng.uniform(0, 2 * math.pi))


def _entering(
    rng: np.random.Generator, speed: float, size: int, num_frames: int, height: int, width: int
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Start and velocity of an object outside the frame that crosses a border inwards.

    Its leading edge reaches one pixel inside the frame on a frame drawn from [1, T // 2].
    """
    enter_frame = int(rng.integers(1, max(1, num_frames // 2) + 1))
    border = int(rng.integers(4))  # 0 left, 1 right, 2 top, 3 bottom
    inward = (0.0, math.pi, math.pi / 2, -math.pi / 2)[border]
    angle = inward + rng.uniform(-1, 1) * math.radians(40)
    vx, vy = speed * math.cos(angle), speed * math.sin(angle)
    entry = -size / 2 + 1.0
    if border < 2:
        x = entry if border == 0 else width - entry
        y = float(rng.uniform(size / 2, height - size / 2))
    else:
        x = float(rng.uniform(size / 2, width - size / 2))
        y = entry if border == 2 else height - entry
    return (x - vx * enter_frame, y - vy * enter_frame), (vx, vy)


def render_frames(rng: np.random.Generator, scene: Scene, config: WorldConfig) -> np.ndarray:
    """Paint the scene: (T, H, W, 3) uint8 RGB.

    The background is a dark, slightly tinted grey, plus per-frame Gaussian noise when noisy;
    objects are filled with their exact colour (before the per-video brightness factor).
    """
    background = config.background
    if background == "mixed":
        background = ("dark", "noisy")[int(rng.integers(2))]
    base = rng.uniform(5, 40) + rng.uniform(-5, 5, size=3)
    shape = (scene.num_frames, scene.height, scene.width, 3)
    frames = np.empty(shape, dtype=np.float32)
    frames[:] = base.astype(np.float32)
    if background == "noisy":
        frames += rng.standard_normal(shape, dtype=np.float32) * np.float32(config.noise_std)
    for obj, mask in zip(scene.objects, scene.masks, strict=True):
        frames[mask] = COLOURS[obj.colour]
    frames *= np.float32(1.0 + rng.uniform(-1, 1) * config.brightness_jitter)
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)
