"""Frozen value classes that cost nothing to define.

`@value` gives a class what `@dataclass(frozen=True)` gives it (an `__init__` over its annotated
fields with their defaults, `__post_init__`, equality, hashing, a repr, and refusal of
assignment), and `replace` is `dataclasses.replace` for such a class. The methods are shared
closures instead of code that `dataclasses` compiles for every class when its module is imported:
about a millisecond a class, which the two dozen values on `kvcalc estimate`'s path would add to
every start of a command that is called in shell loops.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

__all__ = ["field", "replace", "value"]

_C = TypeVar("_C", bound=type)
_T = TypeVar("_T")

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:

    def dataclass_transform(**_: object) -> Callable[[_T], _T]:
        return lambda decorated: decorated


class _Field:
    """A field's default, with whether it takes part in equality (see `field`)."""

    __slots__ = ("compare", "default")

    def __init__(self, default: object, compare: bool) -> None:
        self.default = default
        self.compare = compare


_MISSING = object()


def field(*, default: Any = _MISSING, compare: bool = True) -> Any:
    """A field's default, and `compare=False` to leave it out of equality and the hash."""
    return _Field(default, compare)


class _Fields:
    """The fields of one value class, in declaration order (base classes first)."""

    __slots__ = ("compared", "defaults", "names")

    def __init__(
        self, names: tuple[str, ...], defaults: dict[str, object], compared: tuple[str, ...]
    ) -> None:
        self.names = names
        self.defaults = defaults
        self.compared = compared


_FIELDS = "__value_fields__"


def _fields_of(cls: type) -> _Fields:
    fields: _Fields = getattr(cls, _FIELDS)
    return fields


def _init(self: object, *args: object, **kwargs: object) -> None:
    cls = type(self)
    fields = _fields_of(cls)
    names = fields.names
    if len(args) > len(names):
        raise TypeError(f"{cls.__name__}() takes {len(names)} arguments, got {len(args)}")
    for name, given in zip(names, args, strict=False):
        if name in kwargs:
            raise TypeError(f"{cls.__name__}() got two values for {name!r}")
        object.__setattr__(self, name, given)
    for name in names[len(args) :]:
        if name in kwargs:
            object.__setattr__(self, name, kwargs.pop(name))
        elif name in fields.defaults:
            object.__setattr__(self, name, fields.defaults[name])
        else:
            raise TypeError(f"{cls.__name__}() missing argument {name!r}")
    if kwargs:
        raise TypeError(f"{cls.__name__}() got an unexpected argument {next(iter(kwargs))!r}")
    post_init = getattr(self, "__post_init__", None)
    if post_init is not None:
        post_init()


def _compared(self: object) -> tuple[object, ...]:
    return tuple(getattr(self, name) for name in _fields_of(type(self)).compared)


def _eq(self: object, other: object) -> bool:
    if other.__class__ is not self.__class__:
        return NotImplemented  # type: ignore[no-any-return]
    return _compared(self) == _compared(other)


def _hash(self: object) -> int:
    return hash((type(self).__name__, *_compared(self)))


def _repr(self: object) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in _fields_of(type(self)).names)
    return f"{type(self).__name__}({shown})"


def _refuse_assignment(self: object, name: str, _: object = None) -> None:
    raise AttributeError(f"cannot assign to field {name!r} of a frozen {type(self).__name__}")


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def value(cls: _C) -> _C:
    """Make `cls` a frozen value class over its annotated fields (see the module docstring)."""
    names: list[str] = []
    defaults: dict[str, object] = {}
    compared: list[str] = []
    for base in reversed(cls.__mro__[1:]):
        inherited: _Fields | None = base.__dict__.get(_FIELDS)
        if inherited is not None:
            names += inherited.names
            defaults.update(inherited.defaults)
            compared += inherited.compared
    for name in cls.__dict__.get("__annotations__", {}):  # noqa: RUF063 (no evaluation)
        declared = cls.__dict__.get(name, _MISSING)
        compare = True
        if isinstance(declared, _Field):
            compare = declared.compare
            declared = declared.default
            if declared is _MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, declared)
        if declared is not _MISSING:
            defaults[name] = declared
        elif defaults and name not in defaults:
            raise TypeError(f"{cls.__name__}: field {name!r} without a default follows one with")
        names.append(name)
        if compare:
            compared.append(name)
    fields = _Fields(tuple(names), defaults, tuple(compared))
    type.__setattr__(cls, _FIELDS, fields)
    type.__setattr__(cls, "__match_args__", fields.names)
    for method_name, method in (
        ("__init__", _init),
        ("__eq__", _eq),
        ("__hash__", _hash),
        ("__repr__", _repr),
        ("__setattr__", _refuse_assignment),
        ("__delattr__", _refuse_assignment),
    ):
        type.__setattr__(cls, method_name, method)
    return cls


def replace(instance: _T, **changes: object) -> _T:
    """A copy of a value with some fields changed, checked again by its `__post_init__`."""
    fields = _fields_of(type(instance))
    for name in changes:
        if name not in fields.names:
            raise TypeError(f"{type(instance).__name__} has no field {name!r}")
    values = {name: changes.get(name, getattr(instance, name)) for name in fields.names}
    return type(instance)(**values)
