"""Name -> thing tables that parts of the package add themselves to (encoders, model configs,
data set readers, output writers), after timm's model registry.

A :class:`Registry` is a read-only mapping filled by :meth:`Registry.register`, usually as a
decorator at the definition::

    ENCODERS = Registry("encoder")

    @ENCODERS.register("ghoststack")
    class GhostStack(...): ...

    ENCODERS["ghoststack"]    # -> GhostStack
    ENCODERS["nope"]          # UnknownNameError: unknown encoder 'nope'; choose from densestack, ghoststack, ...
    list(ENCODERS)            # the names, in registration order

Looking up a name that is not there raises :class:`UnknownNameError`, a ``KeyError`` (so ``in``
and ``.get`` work as for a dict) that is also a ``ValueError`` (so the command line prints it as
its one error line) and reads as one line naming the known names.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

__all__ = ["Registry", "UnknownNameError", "parse_names"]

T = TypeVar("T")


class UnknownNameError(KeyError, ValueError):
    """A name no registry entry has: ``str(e)`` is the one-line message (no quotes added)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Registry(Mapping[str, T], Generic[T]):
    """A table of ``what`` (e.g. 'encoder') by name; names are unique and kept in the order
    they were registered."""

    def __init__(self, what: str):
        self.what = what
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T | None = None):
        """Add ``item`` under ``name`` and return it; without ``item``, a decorator that adds
        what it decorates. A name already taken is a ValueError (registering the very same
        object again, as a re-imported module does, is allowed)."""
        if not isinstance(name, str) or not name or name != name.strip() or "," in name:
            raise ValueError(f"{self.what} name must be a non-empty string without commas or outer spaces, "
                             f"got {name!r}")

        def add(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise ValueError(f"{self.what} {name!r} is already registered ({self._items[name]!r})")
            self._items[name] = obj
            return obj

        return add if item is None else add(item)

    def unregister(self, name: str) -> T:
        """Remove ``name`` (for tests that register a toy entry); returns what it held."""
        return self._items.pop(self._known(name))

    def names(self) -> list[str]:
        return list(self._items)

    def unknown(self, name: object) -> UnknownNameError:
        """The error for a name that is not registered: one line listing the known ones."""
        return UnknownNameError(f"unknown {self.what} {name!r}; choose from {', '.join(self._items) or '(none)'}")

    def _known(self, name: str) -> str:
        if name not in self._items:
            raise self.unknown(name)
        return name

    def __getitem__(self, name: str) -> T:
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise self.unknown(name) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        try:
            return name in self._items
        except TypeError:
            return False

    def __repr__(self) -> str:
        return f"Registry({self.what!r}: {', '.join(self._items)})"


def parse_names(text: str, registry: Registry, flag: str) -> list[str]:
    """``"a,b,c"`` -> ``["a", "b", "c"]``, each checked against ``registry`` (order kept,
    repeats dropped); an empty list or an unknown name is a one-line ValueError naming ``flag``."""
    names = list(dict.fromkeys(t.strip() for t in str(text).split(",") if t.strip()))
    if not names:
        raise ValueError(f"{flag}: no {registry.what} named; choose from {', '.join(registry)}")
    for n in names:
        if n not in registry:
            raise ValueError(f"{flag}: {registry.unknown(n)}")
    return names
