"""Ask and tell: your code owns the loop, neps_core proposes and records.

Use this when trials run somewhere `neps.run()` cannot call into — a scheduler you submit to,
a framework with its own training loop. Here a thread pool stands in for that scheduler:
three trials are kept in flight, and each result is told as soon as it arrives.

    python examples/ask_and_tell.py

Results land in ``results/ask_and_tell_example`` with the same layout as a ``neps.run()`` run, so
``neps-core status results/ask_and_tell_example`` and the plots work on it too.
"""

import math
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

import neps_core as neps


class Space(neps.PipelineSpace):
    learning_rate = neps.Float(lower=1e-4, upper=1e-1, log=True, prior=1e-2)
    batch_size = neps.Integer(lower=16, upper=256, log=True)


def train(learning_rate: float, batch_size: int) -> dict[str, float]:
    """A stand-in for a training job: a bowl around lr=1e-2, batch size 64."""
    time.sleep(0.01)
    error = (math.log10(learning_rate) + 2) ** 2 + (math.log2(batch_size) - 6) ** 2 / 10
    return {"objective_to_minimize": error, "cost": batch_size / 64}


with (
    neps.AskAndTell(
        Space(),
        "results/ask_and_tell_example",
        optimizer="random_search",
        evaluations_to_spend=12,
        seed=0,
    ) as client,
    ThreadPoolExecutor(max_workers=3) as scheduler,
):
    in_flight: dict[Future[dict[str, float]], neps.AskedTrial] = {}
    while True:
        while len(in_flight) < 3 and (trial := client.ask()) is not None:
            in_flight[scheduler.submit(train, **trial.config)] = trial
        if not in_flight:
            break
        done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
        for future in done:
            client.tell(in_flight.pop(future), future.result())
    print("stopped:", client.stop_reason)

status = neps.status("results/ask_and_tell_example")
print(f"{status.counts['success']} trials, best objective {status.best_objective:.4f}")
