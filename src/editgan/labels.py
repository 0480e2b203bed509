"""Label schemes: the names and display colours of a domain's part labels, and the published
DatasetGAN schemes.

A label map is an int64 tensor [N, H, W] (or an int array [H, W]) whose values index
`LabelScheme.names`. Colours are RGB uint8 triples, used only at file/UI edges.

DatasetGAN's label schemes for the paper's domains: face (34 classes), car (32), cat (16),
bird (11). Palettes as published in nv-tlabs/datasetGAN_release utils/data_util.py and
nv-tlabs/editGAN_release utils/data_utils.py (face floats in [0, 1] converted as they do:
int(v * 255)). Names: the 34 face names from those files; the 32 car names from the comment in
editGAN_release utils/mask_manipulate_utils.py (section "Car", spellings as published), whose
index use there agrees (front lights 4-5, licence plates 13-14, wheels 21-27); the cat names from
the comment in the same file's "Cat" section, which lists 15 names for the 16-colour palette: they
name classes 0-14 (its ids ear 8, eye 9, mouth 10-11, nose 12 agree) and class 15 stays "part_15".
No bird names are published (that file's bird ids go up to 20, so they belong to another bird
scheme than the 11-colour one): bird classes are "background", "part_01", ... in palette order.
The published cat and bird palettes repeat one colour ((220, 220, 0) for classes 1 and 4 of cat,
1 and 5 of bird); it is kept as published (see `editgan.io.masks` for reading such colours back).
The EditGAN appendix lists "16 and 11" classes for "Bird and Cat" in that order, but the releases
have cat_16.json (16 classes) and an 11-colour bird palette; we follow the releases.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from editgan.errors import InputError


@dataclass(frozen=True)
class LabelScheme:
    """Ordered part labels of a domain. Label 0 is conventionally the background."""

    name: str
    names: tuple[str, ...]
    colors: tuple[tuple[int, int, int], ...]

    def __post_init__(self) -> None:
        if len(self.names) != len(self.colors):
            raise InputError(f"label scheme {self.name!r}: {len(self.names)} names but {len(self.colors)} colours")
        if len(set(self.names)) != len(self.names):
            raise InputError(f"label scheme {self.name!r}: duplicate label names")

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """Label index of a part name; raises InputError naming the known labels."""
        try:
            return self.names.index(name)
        except ValueError:
            raise InputError(f"unknown label {name!r} in scheme {self.name!r}; known: {', '.join(self.names)}") from None

    def indices(self, names: list[str] | tuple[str, ...]) -> list[int]:
        return [self.index(n) for n in names]

    def palette(self) -> np.ndarray:
        """Colours as uint8 [num_classes, 3]."""
        return np.asarray(self.colors, dtype=np.uint8)

    def colorize(self, labels: np.ndarray) -> np.ndarray:
        """Label map int [H, W] -> RGB uint8 [H, W, 3]. Raises InputError on unknown labels."""
        labels = np.asarray(labels)
        self.validate(labels)
        return self.palette()[labels]

    def validate(self, labels: np.ndarray, what: str = "label map") -> None:
        """Raise InputError if any label is outside [0, num_classes)."""
        labels = np.asarray(labels)
        if labels.size and (labels.min() < 0 or labels.max() >= self.num_classes):
            bad = sorted(set(np.unique(labels).tolist()) - set(range(self.num_classes)))
            raise InputError(f"{what} has labels {bad[:10]} outside scheme {self.name!r} (0..{self.num_classes - 1})")

    def to_json(self) -> dict:
        return {"name": self.name, "names": list(self.names), "colors": [list(c) for c in self.colors]}

    @classmethod
    def from_json(cls, data: dict) -> "LabelScheme":
        try:
            return cls(str(data["name"]), tuple(data["names"]), tuple(tuple(int(v) for v in c) for c in data["colors"]))
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(f"malformed label scheme: {err}") from None


_FACE_NAMES = (
    "background", "head", "head***cheek", "head***chin", "head***ear", "head***ear***helix",
    "head***ear***lobule", "head***eye***botton lid", "head***eye***eyelashes", "head***eye***iris",
    "head***eye***pupil", "head***eye***sclera", "head***eye***tear duct", "head***eye***top lid",
    "head***eyebrow", "head***forehead", "head***frown", "head***hair", "head***hair***sideburns",
    "head***jaw", "head***moustache", "head***mouth***inferior lip", "head***mouth***oral comisure",
    "head***mouth***superior lip", "head***mouth***teeth", "head***neck", "head***nose",
    "head***nose***ala of nose", "head***nose***bridge", "head***nose***nose tip", "head***nose***nostril",
    "head***philtrum", "head***temple", "head***wrinkles")

_FACE_PALETTE_FLOAT = (
    (1.0000, 1.0000, 1.0000), (0.4420, 0.5100, 0.4234), (0.8562, 0.9537, 0.3188), (0.2405, 0.4699, 0.9918),
    (0.8434, 0.9329, 0.7544), (0.3748, 0.7917, 0.3256), (0.0190, 0.4943, 0.3782), (0.7461, 0.0137, 0.5684),
    (0.1644, 0.2402, 0.7324), (0.0200, 0.4379, 0.4100), (0.5853, 0.8880, 0.6137), (0.7991, 0.9132, 0.9720),
    (0.6816, 0.6237, 0.8562), (0.9981, 0.4692, 0.3849), (0.5351, 0.8242, 0.2731), (0.1747, 0.3626, 0.8345),
    (0.5323, 0.6668, 0.4922), (0.2122, 0.3483, 0.4707), (0.6844, 0.1238, 0.1452), (0.3882, 0.4664, 0.1003),
    (0.2296, 0.0401, 0.3030), (0.5751, 0.5467, 0.9835), (0.1308, 0.9628, 0.0777), (0.2849, 0.1846, 0.2625),
    (0.9764, 0.9420, 0.6628), (0.3893, 0.4456, 0.6433), (0.8705, 0.3957, 0.0963), (0.6117, 0.9702, 0.0247),
    (0.3668, 0.6694, 0.3117), (0.6451, 0.7302, 0.9542), (0.6171, 0.1097, 0.9053), (0.3377, 0.4950, 0.7284),
    (0.1655, 0.9254, 0.6557), (0.9450, 0.6721, 0.6162))

_CAR32_PALETTE = (
    (255, 255, 255), (238, 229, 102), (0, 0, 0), (124, 99, 34), (193, 127, 15), (106, 177, 21),
    (248, 213, 42), (252, 155, 83), (220, 147, 77), (99, 83, 3), (116, 116, 138), (63, 182, 24),
    (200, 226, 37), (225, 184, 161), (233, 5, 219), (142, 172, 248), (153, 112, 146), (38, 112, 254),
    (229, 30, 141), (115, 208, 131), (52, 83, 84), (229, 63, 110), (194, 87, 125), (225, 96, 18),
    (73, 139, 226), (172, 143, 16), (169, 101, 111), (31, 102, 211), (104, 131, 101), (70, 168, 156),
    (183, 242, 209), (72, 184, 226))

_CAT16_PALETTE = (
    (255, 255, 255), (220, 220, 0), (190, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35),
    (102, 102, 156), (152, 251, 152), (119, 11, 32), (244, 35, 232), (220, 20, 60), (52, 83, 84),
    (194, 87, 125), (225, 96, 18), (31, 102, 211), (104, 131, 101))

_BIRD11_PALETTE = (
    (255, 255, 255), (220, 220, 0), (220, 20, 60), (190, 153, 153), (250, 170, 30), (220, 220, 0),
    (107, 142, 35), (102, 102, 156), (152, 251, 152), (119, 11, 32), (244, 35, 232))


_CAR32_NAMES = (
    "background", "back bumper", "bumper", "car body", "car_light_right", "car_light_left", "door_back",
    "fender", "door_front", "grilles", "back handle", "fronthandle", "hoods", "license_plate_front",
    "licence_plate_back", "logo", "mirror", "roof", "running boards", "taillight right", "taillight left",
    "back wheel", "front wheel", "trunks", "wheelhub_back", "wheelhub_front", "spoke_back", "spoke_front",
    "door_window_back", "back windshield", "door_window_front", "windshield")

_CAT16_NAMES = ("background", "cat", "back", "belly", "chest", "leg", "paw", "head", "ear", "eye", "mouth",
                "tongue", "nose", "tail", "whiskers", "part_15")


def _numbered(n: int) -> tuple[str, ...]:
    return ("background",) + tuple(f"part_{i:02d}" for i in range(1, n))


DATASETGAN_FACE = LabelScheme("datasetgan-face-34", _FACE_NAMES,
                              tuple(tuple(int(v * 255) for v in c) for c in _FACE_PALETTE_FLOAT))
DATASETGAN_CAR = LabelScheme("datasetgan-car-32", _CAR32_NAMES, _CAR32_PALETTE)
DATASETGAN_CAT = LabelScheme("datasetgan-cat-16", _CAT16_NAMES, _CAT16_PALETTE)
DATASETGAN_BIRD = LabelScheme("datasetgan-bird-11", _numbered(11), _BIRD11_PALETTE)

SCHEMES = {s.name: s for s in (DATASETGAN_FACE, DATASETGAN_CAR, DATASETGAN_CAT, DATASETGAN_BIRD)}


def get_scheme(name: str) -> LabelScheme:
    """A scheme by name (see SCHEMES); InputError naming the known ones."""
    try:
        return SCHEMES[name]
    except KeyError:
        raise InputError(f"unknown label scheme {name!r}; known: {', '.join(SCHEMES)}") from None
