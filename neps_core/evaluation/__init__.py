"""Running ``evaluate_pipeline`` outside the worker's process: the kit evaluator plugins share.

The built-in ``subprocess``, ``process_pool``, ``dask`` and ``slurm`` evaluators are built on
these modules of ``neps_core.evaluation``, and a third-party evaluator may be too (they are
part of the plugin API):

- ``child_runner``: calling ``evaluate_pipeline`` with the arguments it names
  (``call_evaluate_pipeline``), and the JSON wire format results and exceptions travel in
  (``encode``, ``decode``, ``rebuild_exception``). It is also the script a fresh interpreter
  runs, so it imports only the standard library.
- ``captured``: calling it where a scheduler runs it, its exception kept as a value
  (``call_capturing``), and the outcome the worker records for that (``outcome_of``).
- ``trial_context``: which trial the running call evaluates (``TrialContext``, ``current``),
  for helpers the function calls; pass the job's ``context`` to ``call_evaluate_pipeline``
  or ``call_capturing`` so that they find it.
- ``seeding``: the global generators seeded for one trial's evaluation (``seeded``), as
  ``call_evaluate_pipeline`` does with the job's ``context.seed``.
- ``own_loop``: running an ``async def`` function's coroutine where an event loop already
  runs (a Jupyter cell), cancelled by a Ctrl-C of the caller.
- ``processes``: ``Command`` (a trial as a shell command) and ``launch_for``, which turns a
  trial into the child process that evaluates it.
- ``children``: starting, polling, timing out and killing those children (``ChildProcess``,
  ``stop_children``, ``signal_group``), and reading what they reported
  (``read_marked_result``, ``CommandFailedError``).
- ``orphan_guardian``: stopping a worker's children when the worker itself is killed
  (``prepare``, ``guard``, ``release``).
- ``main_script``: what a spawned interpreter lacks of the user's script, and the error
  naming what cannot be sent to it (``unsendable_job_error``, ``unsendable_outcome``).

Nothing is imported here, so that importing one module does not import the others.
"""
