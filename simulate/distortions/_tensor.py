"""Shared plumbing of the distortion models: image batches, generators and per-image parameters.

Every public model accepts a torch tensor or a numpy array shaped (H, W) or (B, H, W) and returns the
same kind and shape; axis -1 is the fast-scan direction. Random draws always come from an explicit
generator, never from global state, so a seed reproduces a result exactly on the CPU.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

GeneratorLike = int | np.integer | np.random.Generator | torch.Generator


def as_image_batch(images: Any, name: str = "images") -> tuple[torch.Tensor, Callable[[torch.Tensor], Any]]:
    """Convert ``images`` to a floating (B, H, W) tensor and return a function restoring the caller's form.

    Parameters
    ----------
    images : torch.Tensor or numpy.ndarray
        Image (H, W) or batch (B, H, W), fast-scan direction last, at least 2 x 2 pixels. Integer input
        becomes float64 (numpy) or float32 (torch); floating input keeps its dtype.
    name : str
        Name of the argument, used in error messages.

    Returns
    -------
    tensor : torch.Tensor
        The images as a floating (B, H, W) tensor (shares memory with the input where possible).
    restore : callable
        Maps a (B, H, W) result back to the caller's form: (H, W) for a single image, and a numpy array
        (detached, on the CPU) for numpy input.

    Raises
    ------
    ValueError
        If ``images`` is not an array/tensor, has a rank other than 2 or 3, is empty, or holds NaN/inf.
    """
    from_numpy = isinstance(images, np.ndarray)
    if from_numpy:
        tensor = torch.from_numpy(np.ascontiguousarray(images))
    elif isinstance(images, torch.Tensor):
        tensor = images
    else:
        raise ValueError(f"{name} must be a torch.Tensor or numpy.ndarray; got {type(images).__name__}.")
    if tensor.ndim not in (2, 3):
        raise ValueError(
            f"{name} must have shape (H, W) or (B, H, W) with the fast-scan direction last; "
            f"got shape {tuple(tensor.shape)}."
        )
    if tensor.numel() == 0 or min(tensor.shape[-2:]) < 2:
        raise ValueError(f"{name} must be at least 2 x 2 pixels; got shape {tuple(tensor.shape)}.")
    single = tensor.ndim == 2
    if single:
        tensor = tensor[None]
    if not tensor.is_floating_point():
        tensor = tensor.to(torch.float64 if from_numpy else torch.float32)
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} contains NaN or infinite values; clean the input before distorting it.")

    def restore(result: torch.Tensor) -> Any:
        """Return ``result`` in the caller's form (rank and array type).

        Parameters
        ----------
        result : torch.Tensor
            Result of shape (B, H, W).

        Returns
        -------
        torch.Tensor or numpy.ndarray
            ``result[0]`` for a single input image; a CPU numpy array for numpy input.
        """
        if single:
            result = result[0]
        return result.detach().cpu().numpy() if from_numpy else result

    return tensor, restore


def torch_generator(generator: GeneratorLike, device: torch.device) -> torch.Generator:
    """Return a torch.Generator on ``device`` from a seed, a numpy Generator or a torch Generator.

    Parameters
    ----------
    generator : int, numpy.random.Generator or torch.Generator
        An int seed (Python or numpy integer, not a bool), a numpy Generator (one seed is drawn from it,
        advancing its state) or a torch Generator, which is returned as is.
    device : torch.device
        Device of the images the generator will draw for.

    Returns
    -------
    torch.Generator
        A generator on ``device``'s type.

    Raises
    ------
    ValueError
        If ``generator`` is of another type or is a torch.Generator on a different device type.
    """
    if isinstance(generator, torch.Generator):
        if generator.device.type != device.type:
            raise ValueError(
                f"generator lives on {generator.device.type!r} but the images are on {device.type!r}; "
                f"create torch.Generator(device={device.type!r}) or pass an int seed."
            )
        return generator
    if isinstance(generator, np.random.Generator):
        seed = int(generator.integers(0, 2**62))
    elif isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        seed = int(generator)
    else:
        raise ValueError(
            "generator must be an int seed, a numpy.random.Generator or a torch.Generator; "
            f"got {type(generator).__name__}."
        )
    result = torch.Generator(device=device)
    result.manual_seed(seed)
    return result


def numpy_generator(generator: int | np.integer | np.random.Generator) -> np.random.Generator:
    """Return a numpy Generator from a seed or a Generator (samplers draw scalar parameters with it).

    Parameters
    ----------
    generator : int or numpy.random.Generator
        An int seed (Python or numpy integer, not a bool) or a Generator, which is returned as is.

    Returns
    -------
    numpy.random.Generator
        The generator.

    Raises
    ------
    ValueError
        If ``generator`` is of another type.
    """
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return np.random.default_rng(int(generator))
    raise ValueError(
        f"generator must be an int seed or a numpy.random.Generator; got {type(generator).__name__}."
    )


def per_image(value: float | Sequence[float] | np.ndarray | torch.Tensor, batch: int, like: torch.Tensor,
              name: str) -> torch.Tensor:
    """Broadcast a scalar or a length-B sequence to a (B, 1, 1) tensor of ``like``'s dtype and device.

    Parameters
    ----------
    value : float, sequence of float, numpy.ndarray or torch.Tensor
        One value for every image, or one value per image.
    batch : int
        Number of images B.
    like : torch.Tensor
        Tensor whose dtype and device the result takes.
    name : str
        Name of the parameter, used in error messages.

    Returns
    -------
    torch.Tensor
        Shape (B, 1, 1).

    Raises
    ------
    ValueError
        If ``value`` has neither one nor ``batch`` elements.
    """
    tensor = torch.as_tensor(value, dtype=like.dtype, device=like.device).reshape(-1)
    if tensor.numel() == 1:
        tensor = tensor.expand(batch)
    elif tensor.numel() != batch:
        raise ValueError(f"{name} must be a scalar or have one value per image ({batch}); got {tensor.numel()}.")
    return tensor.reshape(batch, 1, 1)


def check_fraction(value: float, name: str, *, closed_low: bool = True, closed_high: bool = True) -> None:
    """Raise ValueError unless ``value`` is a finite number in [0, 1] (ends as requested).

    Parameters
    ----------
    value : float
        Value to check.
    name : str
        Name of the parameter, used in the error message.
    closed_low : bool
        Accept 0; ``False`` requires ``value > 0``.
    closed_high : bool
        Accept 1; ``False`` requires ``value < 1``.

    Raises
    ------
    ValueError
        If ``value`` is not finite or lies outside the interval.
    """
    ok_low = value >= 0 if closed_low else value > 0
    ok_high = value <= 1 if closed_high else value < 1
    if not (np.isfinite(value) and ok_low and ok_high):
        low = "[" if closed_low else "("
        high = "]" if closed_high else ")"
        raise ValueError(f"{name} must lie in {low}0, 1{high}; got {value!r}.")


def check_positive(value: float, name: str, unit: str = "", *, allow_zero: bool = False) -> None:
    """Raise ValueError unless ``value`` is finite and > 0 (or >= 0 with ``allow_zero``).

    Parameters
    ----------
    value : float
        Value to check.
    name : str
        Name of the parameter, used in the error message.
    unit : str
        Unit appended to the bound in the error message; empty for none.
    allow_zero : bool
        Accept 0.

    Raises
    ------
    ValueError
        If ``value`` is not finite or not positive (negative with ``allow_zero``).
    """
    ok = np.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        suffix = f" {unit}" if unit else ""
        raise ValueError(f"{name} must be finite and {bound}{suffix}; got {value!r}.")


def batch_max(x: torch.Tensor) -> torch.Tensor:
    """Return the per-image maximum as a (B, 1, 1) tensor.

    Parameters
    ----------
    x : torch.Tensor
        Images, shape (B, H, W).

    Returns
    -------
    torch.Tensor
        Maximum over the last two axes, shape (B, 1, 1).
    """
    return x.amax(dim=(-2, -1), keepdim=True)


def batch_min(x: torch.Tensor) -> torch.Tensor:
    """Return the per-image minimum as a (B, 1, 1) tensor.

    Parameters
    ----------
    x : torch.Tensor
        Images, shape (B, H, W).

    Returns
    -------
    torch.Tensor
        Minimum over the last two axes, shape (B, 1, 1).
    """
    return x.amin(dim=(-2, -1), keepdim=True)
