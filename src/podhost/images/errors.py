"""Exceptions raised by the image store.

Every error raised on purpose by `podhost.images` derives from `ImageError`, so callers can
catch one class. This module only defines classes; it must not import anything from podhost.

Exception hierarchy:

* ImageError
  + InvalidReferenceError    - "busybox:" or "Nginx": not a valid image reference.
  + ImageNotFoundError       - no image with that name, digest or ID in the store.
  + ImageInUseError          - removal refused: a container still uses the image.
  + ArchiveError             - an image archive (OCI layout or docker save) is malformed.
  + LayerError               - a layer is unsafe (path escape, symlinked parent) or corrupt.
  + DigestMismatchError      - content does not hash to the digest it was declared with.
  + SnapshotError            - a container rootfs could not be prepared or removed.
  + RegistriesConfError      - registries.conf is malformed.
  + AuthFileError            - an auth file (auth.json, ~/.docker/config.json) is malformed.
  + RegistryError            - a registry refused or failed a request (status, reason).
  + ImagePullError           - a pull failed; the message is the reason shown on the Pod.
    + ImageNeverPullError    - policy Never and the image is absent.
"""

from __future__ import annotations


class ImageError(Exception):
    """Base class of every error raised by podhost.images."""


class InvalidReferenceError(ImageError, ValueError):
    """A string is not a valid image reference (the message follows Docker's wording)."""


class ImageNotFoundError(ImageError, LookupError):
    """No image in the store matches a name, digest or ID."""


class ImageInUseError(ImageError):
    """An image cannot be removed because a container uses it."""


class ArchiveError(ImageError):
    """An image archive is malformed: missing index/manifest, unknown blob, bad JSON."""


class LayerError(ImageError):
    """A layer tar is unsafe or corrupt; the message names the offending member path."""


class DigestMismatchError(ImageError):
    """Content hashed to a different digest than the one it was declared with."""

    def __init__(self, what: str, expected: str, actual: str) -> None:
        super().__init__(f"{what}: digest mismatch: expected {expected}, got {actual}")
        self.expected = expected
        self.actual = actual


class SnapshotError(ImageError):
    """An overlay rootfs could not be mounted, unmounted or removed."""


class RegistriesConfError(ImageError):
    """registries.conf (containers-registries.conf(5) v2) is unreadable or malformed."""


class AuthFileError(ImageError):
    """An auth file (containers-auth.json(5) or ~/.docker/config.json) is malformed."""


class RegistryError(ImageError):
    """A registry refused or failed a request; the message carries the registry's reason."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ImagePullError(ImageError):
    """An image could not be pulled; str() is the reason kubelet shows after "Failed to pull"."""


class ImageNeverPullError(ImagePullError):
    """Pull policy Never and the image is not in the store (kubelet's ErrImageNeverPull)."""
