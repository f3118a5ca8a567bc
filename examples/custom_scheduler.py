"""A site's own scheduler: write a job script per trial and hand it to a submit command."""

import shlex
import subprocess
import sys
import time

import neps_core as neps
from neps_core.evaluation.processes import read_marked_result
from neps_core.interfaces import EvaluationJob, EvaluationOutcome, Evaluator

SUBMIT = ["bash"]  # on a cluster: ["sbatch"], ["qsub"], ...; they return at once too


class ScriptScheduler(Evaluator):
    name = "script_scheduler"
    capacity = 4  # jobs of this worker in the queue at once

    def __init__(self, settings: object = None) -> None:
        super().__init__(settings)
        self.jobs: dict = {}  # trial id -> its directory and the submit command's process

    def submit(self, job: EvaluationJob) -> None:
        assert isinstance(job.function, neps.Command), "this site runs commands only"
        folder, command = job.pipeline_directory, job.function.render(job.arguments)
        line = command if isinstance(command, str) else shlex.join(command)
        script = f"cd {shlex.quote(str(folder))}\n{line} > out.txt\ntouch done\n"
        (folder / "job.sh").write_text(script)
        self.jobs[job.trial.id] = folder, subprocess.Popen([*SUBMIT, str(folder / "job.sh")])

    def wait(self, timeout: float | None = None) -> list:
        time.sleep(timeout or 0)  # a real scheduler would poll its queue here
        done = [i for i, (folder, _) in self.jobs.items() if (folder / "done").exists()]
        found = {}
        for i in done:
            folder, submitter = self.jobs.pop(i)
            submitter.wait()  # reap it (sbatch returns at once; bash once the job is done)
            found[i] = read_marked_result((folder / "out.txt").read_text())
        failed = RuntimeError("the job printed no NEPS_CORE_RESULT line")
        return [EvaluationOutcome(i, r, None if ok else failed) for i, (ok, r) in found.items()]


@neps.hookimpl
def neps_register_evaluators() -> list:
    return [ScriptScheduler]


TRAIN = "import sys; x = float(sys.argv[1]); print('NEPS_CORE_RESULT', (x - 0.3) ** 2)"
if __name__ == "__main__":
    summary = neps.run(
        neps.Command([sys.executable, "-c", TRAIN, "{x}"]),
        {"x": neps.Float(0.0, 1.0)},
        root_directory="results/custom_scheduler",
        evaluations_to_spend=8,
        evaluator="script_scheduler",
        plugins=[sys.modules[__name__]],  # a module in a local file: no packaging needed
    )
    best = summary.best_trial
    assert best is not None
    print("best x:", best.config["x"], "objective:", best.objective)
