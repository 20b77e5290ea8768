"""What a 2D encoder of MobRecon is (:class:`Encoder`), and the table of them by name.

Every encoder file defines its network as a subclass of :class:`Encoder` and registers it::

    @register_encoder("ghoststack")
    class GhostStack(StackedEncoder):
        def __init__(self, out_ch: int = 24, latent_ch: int = 256): ...

and ``mobrecon/models/__init__.py`` imports that file, so the name is known as soon as
``mobrecon.models`` is. ``MobReconConfig(encoder="ghoststack")`` then builds it through
:func:`build_encoder`; :func:`encoder_names` lists what can be asked for.
"""

from __future__ import annotations

import torch
from torch import nn

from mobrecon.models.flops import count_params
from mobrecon.registry import Registry

__all__ = ["ENCODERS", "Encoder", "build_encoder", "encoder_names", "register_encoder"]


class Encoder(nn.Module):
    """The interface the rest of MobRecon reads an encoder through.

    An encoder is built as ``cls(latent_ch=C)`` (all other arguments have defaults) and has:

    * ``latent_ch``: channels C of the latent F_e (256), read by the pose pooling and lifting;
    * ``out_ch``: channels M of the 2D map (24), read by the 2D pose head (MapReg / heatmaps);
    * ``forward(x, with_map=True)``: x (B, 3, S, S) normalised as (x - 0.5) / 0.5 (S = 128) ->
      ``(F_e (B, C, S/32, S/32), map (B, M, S/8, S/8))``, i.e. F_e (B, 256, 4, 4) and map
      (B, 24, 16, 16) at 128 x 128; with ``with_map=False`` F_e alone, without running the map part;
    * ``map_part_modules()``: the modules that only make the map (the paper books them under
      the "2D part", Table 2, not the encoder, Table 1); ``[]`` once dropped;
    * ``drop_map_part()``: remove those modules (for heads that read F_e only, e.g. direct
      regression); ``forward(x)`` with the map is then a RuntimeError.

    Subclasses set ``out_ch`` and ``latent_ch`` and implement :meth:`forward`,
    :meth:`map_part_modules` and :meth:`drop_map_part`; :meth:`encoder_num_params` follows.
    The base class adds no parameters, buffers or submodules (weights files see only the
    subclass's own).
    """

    out_ch: int
    latent_ch: int

    def forward(self, x: torch.Tensor, with_map: bool = True):
        raise NotImplementedError(f"{type(self).__name__} does not implement forward(x, with_map)")

    def map_part_modules(self) -> list[nn.Module]:
        """Modules used only for the map (booked under the "2D part"); [] when dropped."""
        raise NotImplementedError(f"{type(self).__name__} does not implement map_part_modules()")

    def drop_map_part(self) -> None:
        """Remove :meth:`map_part_modules` (for heads that read only F_e)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement drop_map_part()")

    def encoder_num_params(self) -> int:
        """Parameters of the encoder proper, i.e. excluding :meth:`map_part_modules`."""
        return count_params([self], exclude=self.map_part_modules())

    @staticmethod
    def no_map_error() -> RuntimeError:
        """The error of ``forward(x)`` (with the map) after :meth:`drop_map_part`."""
        return RuntimeError("this encoder was built without its map path (drop_map_part)")


ENCODERS: Registry[type[Encoder]] = Registry("encoder")


def register_encoder(name: str):
    """Class decorator: make an :class:`Encoder` subclass buildable as ``MobReconConfig(encoder=name)``."""
    register = ENCODERS.register(name)

    def add(cls: type[Encoder]) -> type[Encoder]:
        if not (isinstance(cls, type) and issubclass(cls, Encoder)):
            raise TypeError(f"encoder {name!r}: {cls!r} is not a subclass of mobrecon.models.encoder.Encoder")
        return register(cls)

    return add


def build_encoder(name: str, latent_ch: int = 256) -> Encoder:
    """A registered encoder by name, with F_e of ``latent_ch`` channels; an unknown name is a
    one-line ValueError listing the known ones."""
    return ENCODERS[name](latent_ch=latent_ch)


def encoder_names() -> list[str]:
    return ENCODERS.names()
