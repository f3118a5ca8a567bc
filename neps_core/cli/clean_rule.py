"""The rule of ``neps-core clean``, apart from the code applying it: the command-line parser
shows it in ``--help`` without importing what reads a run."""

CLEAN_RULE = """\
Remove the debris of stopped or killed workers from a run, safely.

The rule:
  * If any worker is alive - a run() worker or ask-and-tell session of this machine
    still running in the run (whatever it is doing), or, for workers elsewhere, an
    EVALUATING trial that heartbeated within the stale_after its worker recorded in
    it (--stale-after seconds for trials of older runs, which record none) - nothing
    is changed and the command fails: stop the workers first.
  * Otherwise these trials are debris and become CRASHED (their records and folders
    stay; storage never forgets a trial):
      - EVALUATING trials whose worker died or was killed (its process is gone from
        this machine, or it stopped heartbeating);
      - PENDING trials (sampled but never started, or re-queued after a crash).
    A continued run() then samples fresh trials instead. Like every sampled trial,
    they still count towards evaluations_to_spend.
  * Temporary files of interrupted writes (.NAME.*.tmp next to neps-core's own
    files) older than --stale-after seconds are deleted, and so is what an
    interrupted overwrite_root_directory=True left to delete (.neps_core_overwritten/).
  * SUCCESS, FAILED, CRASHED and CORRUPTED trials are never touched, and neither are
    trials waiting for save_pipeline_results (asynchronous evaluation).
The check and the change happen in one storage transaction. A worker on another
machine that has not claimed its first trial yet is invisible to the check: stop
workers before cleaning.
--dry-run only reads (no storage lock, no file written), so it also works on a read-only run.
"""
