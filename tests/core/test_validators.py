"""The shared validators of plugin settings: one wording, naming the option, ``None`` allowed."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

import neps_core as neps
from neps_core.validators import at_least, one_of, positive


@attrs.frozen
class Options:
    workers: int | None = attrs.field(default=None, validator=at_least(1))
    timeout: float | None = attrs.field(default=None, validator=positive)
    method: str = attrs.field(default="spawn", validator=one_of(("spawn", "fork")))


def test_valid_and_unset_values_pass() -> None:
    assert Options(workers=1, timeout=0.5, method="fork").workers == 1
    assert Options().timeout is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"workers": 0}, "workers must be at least 1, got 0"),
        ({"timeout": 0}, "timeout must be positive, got 0"),
        ({"timeout": -2.5}, "timeout must be positive, got -2.5"),
        ({"method": "thread"}, "method must be one of ['spawn', 'fork'], got 'thread'"),
    ],
)
def test_bad_values_name_the_option(options: dict, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        Options(**options)
    assert str(caught.value) == message


@pytest.mark.parametrize("evaluator", ["subprocess", "process_pool"])
def test_a_negative_kill_grace_is_refused(tmp_path: Path, evaluator: str) -> None:
    # It was accepted, while a negative timeout was refused.
    with pytest.raises(neps.SettingsError, match="kill_grace must be at least 0, got -1"):
        neps.run(
            lambda x: x,
            {"x": neps.Float(0.0, 1.0)},
            root_directory=tmp_path / "run",
            evaluations_to_spend=1,
            evaluator={"name": evaluator, "kill_grace": -1},
        )
