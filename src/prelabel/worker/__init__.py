"""The background trainer: claims training jobs with a lease, trains with prelabel.automl, writes a model
version with predictions for every asset, and recomputes the annotation queue's priorities.

`Trainer` (worker/trainer.py) runs jobs in-process; `start_background_worker` (worker/process.py) runs one
trainer in a separate process for `prelabel serve` / `prelabel demo`; `prelabel worker` runs one in the
foreground. See docs/loop.md.
"""
