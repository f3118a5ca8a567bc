"""run() under torchrun: rank 0 samples and reports, the other ranks evaluate the same trials.

The end-to-end tests launch ``python -m torch.distributed.run --nproc_per_node=2`` on CPU
(gloo), once with the arguments travelling through files and once through an initialized
process group, whose ``all_reduce`` inside the evaluation proves the ranks train together.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

import neps_core as neps
from neps_core.config import RunSettings
from neps_core.distributed import (
    FileChannel,
    Launch,
    detect_launch,
    maybe_run_as_nonzero_rank,
    rank_zero,
)

# -- launches and channels ------------------------------------------------------------------------


def test_no_launch_outside_torchrun() -> None:
    assert detect_launch({}) is None
    assert detect_launch({"WORLD_SIZE": "1", "RANK": "0"}) is None


def test_the_launch_id_is_the_rendezvous_id_or_the_agent() -> None:
    launch = detect_launch({"WORLD_SIZE": "2", "RANK": "1", "TORCHELASTIC_RUN_ID": "abc"})
    assert launch == Launch(rank=1, world_size=2, launch_id="abc-r0")
    static = detect_launch(
        {"WORLD_SIZE": "2", "RANK": "0", "TORCHELASTIC_RUN_ID": "none", "MASTER_PORT": "29500"}
    )
    assert static is not None and static.launch_id.endswith(f"-agent{os.getppid()}-r0")
    chosen = detect_launch({"WORLD_SIZE": "4", "RANK": "3", "NEPS_CORE_LAUNCH_ID": "mine"})
    assert chosen is not None and chosen.launch_id == "mine-r0"


def test_a_file_channel_delivers_messages_in_order_to_another_process(tmp_path: Path) -> None:
    reader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, json; from pathlib import Path; "
            "from neps_core.distributed import FileChannel; "
            "channel = FileChannel(Path(sys.argv[1])); "
            "print(json.dumps([channel.receive() for _ in range(3)]))",
            str(tmp_path / "channel"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    sender = FileChannel(tmp_path / "channel")
    for number in range(3):
        sender.send({"kind": "trial", "number": number})
    out, _ = reader.communicate(timeout=120)
    assert [message["number"] for message in json.loads(out)] == [0, 1, 2]


@pytest.mark.parametrize("evaluator", ["process_pool", "subprocess"])
def test_an_evaluator_in_other_processes_is_refused_under_torchrun(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, evaluator: str
) -> None:
    """The other ranks follow calls in rank 0's process: elsewhere they idled or hung."""
    for rank in ("0", "1"):  # every rank stops with the error, none waits for the others
        for name, value in {"WORLD_SIZE": "2", "RANK": rank, "NEPS_CORE_LAUNCH_ID": "t"}.items():
            monkeypatch.setenv(name, value)
        with pytest.raises(neps.SettingsError, match=rf"evaluator '{evaluator}' under torchrun"):
            neps.run(
                lambda x: x,
                {"x": neps.Float(0.0, 1.0)},
                root_directory=tmp_path / "run",
                evaluations_to_spend=1,
                evaluator=evaluator,
            )


def test_outside_a_launch_nothing_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)

    def evaluate(x: float) -> float:
        return x

    settings = RunSettings.from_kwargs(evaluate_pipeline=evaluate, root_directory=tmp_path)
    assert maybe_run_as_nonzero_rank(settings) is None
    with rank_zero(settings) as same:
        assert same is settings


# -- two ranks without torch: the protocol through files ------------------------------------------
RANKS = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    import neps_core as neps
    from neps_core.config import RunSettings
    from neps_core.distributed import maybe_run_as_nonzero_rank, rank_zero

    def evaluate_pipeline(x, pipeline_directory, pipeline_id):
        rank = os.environ["RANK"]
        (pipeline_directory / f"rank_{rank}.json").write_text(
            json.dumps({"x": x, "id": pipeline_id, "directory": str(pipeline_directory)}))
        return x

    if __name__ == "__main__":
        kwargs = dict(
            evaluate_pipeline=evaluate_pipeline,
            pipeline_space={"x": neps.Float(0.0, 1.0)},
            root_directory=sys.argv[1],
            evaluations_to_spend=3,
            worker_id="rank-" + os.environ["RANK"],
        )
        settings = RunSettings.from_kwargs(**kwargs)
        summary = maybe_run_as_nonzero_rank(settings)
        if summary is None:
            with rank_zero(settings) as leading:
                kwargs["evaluate_pipeline"] = leading.evaluate_pipeline
                summary = neps.run(**kwargs)
        print(json.dumps(summary.counts))
    """
)


def _check_trials(root: Path, ranks: int = 2) -> None:
    folders = sorted((root / "configs").iterdir())
    assert len(folders) == 3  # the ranks are one worker: 3 trials, not 3 per rank
    for folder in folders:
        seen = [json.loads((folder / f"rank_{r}.json").read_text()) for r in range(ranks)]
        assert all(entry == seen[0] for entry in seen)  # same config, id and directory
        assert Path(seen[0]["directory"]) == folder
        assert yaml.safe_load((folder / "metadata.yaml").read_text())["worker_id"] == "rank-0"


def test_two_ranks_follow_one_worker_through_files(tmp_path: Path) -> None:
    script = tmp_path / "ranks.py"
    script.write_text(RANKS)
    root = tmp_path / "root"
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), str(root)],
            env={**os.environ, "RANK": str(r), "WORLD_SIZE": "2", "NEPS_CORE_LAUNCH_ID": "t1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for r in (1, 0)  # the follower starts first and waits
    ]
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        assert json.loads(out.strip().splitlines()[-1])["success"] == 3
    _check_trials(root)


# -- torchrun -------------------------------------------------------------------------------------
TORCHRUN = textwrap.dedent(
    """
    import json, os, sys
    import neps_core as neps

    MODE = sys.argv[2]

    def evaluate_pipeline(x, pipeline_directory, pipeline_id):
        rank = os.environ["RANK"]
        total = None
        if MODE == "process_group":
            import torch, torch.distributed as dist
            tensor = torch.tensor([x], dtype=torch.float64)
            dist.all_reduce(tensor)
            total = tensor.item()
        (pipeline_directory / f"rank_{rank}.json").write_text(
            json.dumps({"x": x, "id": pipeline_id, "directory": str(pipeline_directory)}))
        if total is not None:
            (pipeline_directory / f"sum_{rank}").write_text(repr(total))
        return x

    if __name__ == "__main__":
        if MODE == "process_group":
            import torch.distributed as dist
            dist.init_process_group("gloo")
        summary = neps.run(
            evaluate_pipeline,
            {"x": neps.Float(0.0, 1.0)},
            root_directory=sys.argv[1],
            evaluations_to_spend=3,
            worker_id="rank-" + os.environ["RANK"],
        )
        # One write(2) of under PIPE_BUF bytes to the pipe both ranks share is atomic; print()
        # may write the line and its newline separately (unbuffered stdout), and interleave.
        os.write(1, f"RESULT {json.dumps(summary.counts)}\\n".encode())
        if MODE == "process_group":
            dist.destroy_process_group()
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["files", "process_group"])
def test_torchrun_ranks_are_one_worker(tmp_path: Path, mode: str) -> None:
    script = tmp_path / "train.py"
    script.write_text(TORCHRUN)
    root = tmp_path / "root"
    completed = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         str(script), str(root), mode],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = [line for line in completed.stdout.splitlines() if line.startswith("RESULT")]
    assert len(results) == 2  # both ranks returned the run's summary
    assert all(json.loads(line.split(" ", 1)[1])["success"] == 3 for line in results)
    _check_trials(root)
    if mode == "process_group":
        for folder in (root / "configs").iterdir():
            x = json.loads((folder / "rank_0.json").read_text())["x"]
            for rank in (0, 1):
                assert float((folder / f"sum_{rank}").read_text()) == pytest.approx(2 * x)
