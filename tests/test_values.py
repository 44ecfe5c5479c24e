"""`kvcalc.values`: frozen values that behave as `dataclasses.dataclass(frozen=True)` does."""

from __future__ import annotations

import dataclasses

import pytest

from kvcalc.values import field, replace, value


@value
class Point:
    x: int
    y: int = 0
    label: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.x < 0:
            raise ValueError("x must not be negative")


@dataclasses.dataclass(frozen=True)
class Reference:
    x: int
    y: int = 0
    label: str = dataclasses.field(default="", compare=False)


def test_construction_matches_a_frozen_dataclass() -> None:
    for args, kwargs in (((1,), {}), ((1, 2), {}), ((), {"x": 3, "y": 4}), ((5,), {"label": "a"})):
        ours, theirs = Point(*args, **kwargs), Reference(*args, **kwargs)
        assert (ours.x, ours.y, ours.label) == (theirs.x, theirs.y, theirs.label)
        assert repr(ours) == repr(theirs).replace("Reference", "Point")


def test_equality_and_hash_leave_out_compare_false_fields() -> None:
    assert Point(1, 2, "a") == Point(1, 2, "b")
    assert hash(Point(1, 2, "a")) == hash(Point(1, 2, "b"))
    assert Point(1, 2) != Point(1, 3)
    assert Point(1, 2) != (1, 2)  # type: ignore[comparison-overlap]
    assert len({Point(1), Point(1), Point(2)}) == 2


def test_fields_cannot_be_assigned_or_deleted() -> None:
    point = Point(1)
    with pytest.raises(AttributeError):
        point.x = 2  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del point.x


def test_bad_arguments_are_type_errors_and_post_init_runs() -> None:
    with pytest.raises(TypeError, match="missing argument 'x'"):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="two values for 'x'"):
        Point(1, x=2)  # type: ignore[misc]
    with pytest.raises(TypeError, match="unexpected argument 'z'"):
        Point(1, z=2)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="takes 3 arguments"):
        Point(1, 2, "a", 4)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="negative"):
        Point(-1)


def test_replace_checks_again() -> None:
    assert replace(Point(1, 2, "a"), y=5) == Point(1, 5)
    assert replace(Point(1, 2, "a"), y=5).label == "a"
    with pytest.raises(ValueError, match="negative"):
        replace(Point(1), x=-1)
    with pytest.raises(TypeError, match="no field 'z'"):
        replace(Point(1), z=1)


def test_a_subclass_inherits_the_fields() -> None:
    @value
    class Labelled(Point):
        note: str = "n"

    labelled = Labelled(1, 2, "a", "b")
    assert (labelled.x, labelled.y, labelled.label, labelled.note) == (1, 2, "a", "b")
    assert labelled == Labelled(1, 2, "z", "b")
