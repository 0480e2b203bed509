"""The toonface part labels: 15 parts, background first, in the renderer's z-order.

The index order doubles as the tie-break when a downsampled pixel is covered equally by two
parts: the later (front-most, usually thinner) part wins.
"""

from editgan.labels import LabelScheme

TOONFACES_LABELS = LabelScheme(
    name="toonfaces",
    names=(
        "background",
        "neck",
        "skin",
        "ear",
        "hair",
        "eyebrow",
        "sclera",
        "iris",
        "pupil",
        "eyelid",
        "nose",
        "upper_lip",
        "lower_lip",
        "mouth_interior",
        "teeth",
    ),
    colors=(
        (0, 0, 0),
        (120, 80, 60),
        (230, 180, 140),
        (200, 120, 80),
        (110, 60, 20),
        (60, 40, 20),
        (245, 245, 245),
        (40, 140, 200),
        (10, 10, 60),
        (200, 90, 160),
        (250, 120, 40),
        (220, 30, 60),
        (150, 0, 40),
        (90, 0, 90),
        (255, 255, 140),
    ),
)
