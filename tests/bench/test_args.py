"""`python -m bench --only`: which load runs a comparison run does."""

from __future__ import annotations

import pytest

from bench.__main__ import parse_args, selected


def test_only_selects_the_named_runs() -> None:
    args = parse_args(["--only", "a16, C16"])
    assert args.only == {"A16", "C16"}
    assert selected(args, "A", 16)
    assert selected(args, "C", 16)
    assert not selected(args, "A", 1)
    assert not selected(args, "B", 16)


def test_without_only_every_run_is_selected() -> None:
    args = parse_args([])
    assert args.only is None
    assert all(selected(args, n, c) for n in "ABCD" for c in (1, 16))


@pytest.mark.parametrize("value", ["E16", "A2", "", "B"])
def test_only_refuses_unknown_runs(value: str) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--only", value])
