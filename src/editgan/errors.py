"""One exception family for everything the library reports to users.

Every message says what was wrong and what to do; the CLI prints it as one line and exits 1.
"""


class EditGANError(Exception):
    """Base class of all errors raised on purpose by editgan."""


class ConfigError(EditGANError):
    """A network or bundle configuration is invalid (bad resolution, widths, shapes)."""


class CheckpointError(EditGANError):
    """A checkpoint file is missing, malformed, of an unknown layout, or unsafe to load."""


class UnsafePickleError(CheckpointError):
    """A pickle asked for a global that the restricted unpickler does not allow."""


class InputError(EditGANError):
    """User input (image, mask, label, name, argument) is invalid."""


class MissingWeightsError(EditGANError):
    """An optional pretrained weight file (VGG16, ArcFace, Inception...) is not available."""
