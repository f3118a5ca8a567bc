"""``TrialFiles``, the public helper a storage plugin uses to restore the files a kill left out."""

from __future__ import annotations

from pathlib import Path

from neps_core.interfaces import TrialFiles
from neps_core.models import Trial, TrialState


def test_to_look_at_and_lacking_config_each_take_their_first_look(tmp_path: Path) -> None:
    """They shared one flag: whichever a storage called second found nothing in its first
    write, so a trial a kill left without its config.yaml stayed without it."""
    history = {"1": Trial(id="1", config={"x": 1}, state=TrialState.PENDING, created_at=0.0)}
    for first, second in (("to_look_at", "lacking_config"), ("lacking_config", "to_look_at")):
        files = TrialFiles(tmp_path)
        assert [t.id for t in getattr(files, first)(history)] == ["1"]
        assert [t.id for t in getattr(files, second)(history)] == ["1"]
        assert files.lacking_config(history) == []  # only the first look
