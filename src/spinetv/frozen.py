"""A read-only mapping that pickles and deep-copies, for the fields of frozen values.

``types.MappingProxyType`` is read-only but cannot be pickled, so a value holding one cannot go
to a worker process (``spinetv batch``) or be deep-copied. :class:`FrozenMap` holds its own copy
of the items and offers only reading.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar

__all__ = ["FrozenMap", "frozen_json"]

K = TypeVar("K")
V = TypeVar("V")


class FrozenMap(Mapping[K, V], Generic[K, V]):
    """A read-only copy of a mapping (or of key-value pairs).

    Parameters
    ----------
    items : mapping or iterable of pairs, optional
        The contents, copied (shallowly).
    """

    __slots__ = ("_items",)
    _items: dict[K, V]

    def __init__(self, items: Mapping[K, V] | Iterable[tuple[K, V]] = ()) -> None:
        object.__setattr__(self, "_items", dict(items))

    def __getitem__(self, key: K) -> V:
        return self._items[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._items!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self._items,))

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))


def frozen_json(value: Any) -> Any:
    """A JSON-like value with every mapping made a :class:`FrozenMap` and every list a tuple.

    Parameters
    ----------
    value : any
        Dicts, lists, tuples and scalars, nested.

    Returns
    -------
    any
        The same structure, read-only all the way down.
    """
    if isinstance(value, Mapping):
        return FrozenMap({k: frozen_json(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(frozen_json(v) for v in value)
    return value
