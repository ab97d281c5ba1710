"""Training that Lernkurve watches and steers, through the database only.

In your own script::

    import lernkurve
    with lernkurve.init(name="my-net", config={"lr": 0.1, "batch_size": 64},
                        live=["lr", "batch_size"]) as run:
        run.watch(model, optimizer)
        for step in run.steps(10_000):
            ...
            run.log({"loss": loss}, step=step)
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lernkurve.shared import configs, recipes
from lernkurve.shared.hparams import HParamError, check_schema, resolve, schema_from_config
from lernkurve.shared.names import name_problem
from lernkurve.store import retention
from lernkurve.store.database import Database, shown_url
from lernkurve.tracking import distributed, notebook
from lernkurve.tracking.run import Run
from lernkurve.tracking.scripts import create_script_run, resume_script_run
from lernkurve.tracking.sysmetrics import INTERVAL, start_sampling

__all__ = ["HParamError", "Run", "continue_run", "init", "open_database"]

_databases: dict[str, Database] = {}


def open_database(db: str | Path | None = None) -> Database:
    """One Database per URL and process (the process has one writer per database)."""
    probe = Database.url_for(db)
    if probe not in _databases:
        _databases[probe] = Database(probe)
    return _databases[probe]


def init(
    name: str | None = None,
    config: dict | None = None,
    live: list[str] | None = None,
    schema: dict | None = None,
    *,
    db: str | Path | None = None,
    resume: int | None = None,
    total_steps: int | None = None,
    checkpoint_every: int | None = None,
    keep_last: int | None = retention.KEEP_LAST,
    keep_best: str | None = None,
    keep_best_mode: str = "min",
    system_metrics: bool | float = True,
    recipe: dict | list | str | Path | None = None,
    precision: str = "float64",
) -> Run:
    """Start (or with ``resume=RUN_ID`` continue) a run that appears in Lernkurve and obeys it.

    ``config`` holds the hyperparameter values, as a dict, ``vars(args)``, a dataclass or a
    Hydra config (nested groups become ``a.b``; lernkurve.shared.configs); ``live`` names the
    numbers and flags the app may change while the run trains (or give ``schema`` with types
    and ranges instead). Same database as the
    app: ``db``, else LERNKURVE_DB, else the file in the user's data directory.
    ``checkpoint_every=N`` saves a checkpoint at every N-th step (beside the database);
    ``keep_last`` of them stay (None: all), plus the best by ``keep_best`` (a metric's name,
    lowest unless ``keep_best_mode="max"``) and any a fork starts from.
    ``system_metrics``: CPU, memory (and GPU) of this process under sys/ every 5 s (a number:
    every that many seconds; False: none).
    ``recipe``: changes to replay at their steps, as ``GET /api/runs/<id>/recipe`` gives them
    (the dict, or the path of a JSON file holding it).
    ``precision="float32"``: values are kept as float32, as TensorBoard keeps them (half the
    bytes on SQLite; values that are float32 already, as a float32 tensor's, take that little
    anyway).
    """
    kept = retention.checked(keep_last, keep_best, keep_best_mode)
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    job = distributed.job()  # under torch.distributed: one run for all ranks (distributed.py)
    if job is not None and job.rank:
        follower = job.follow(checkpoint_every)
        if recipe is not None:  # every rank applies it at the same steps, as rank 0 does
            follower.load_recipe(recipes.load(recipe))
        return follower
    cls = Run if job is None else distributed.LeaderRun
    notebook.before_init()  # in a Jupyter kernel: the run an earlier cell left open ends
    database = open_database(db)
    if resume is not None:
        run = resume_script_run(database, resume, cls)
    else:
        run = _new_run(database, name, config, live, schema, total_steps, recipe, cls)
    run.buffer.float32 = precision == "float32"
    _start(run, checkpoint_every, kept, system_metrics)
    notebook.adopt(run)  # in a Jupyter kernel: the app serves it, the cell's end ends it
    return run if job is None else job.lead(run)


PRECISIONS = ("float64", "float32")


def continue_run(
    run_id: int,
    step: int,
    path: str | Path,
    framework: str,
    *,
    db: str | Path | None = None,
    system_metrics: bool | float = True,
) -> Run:
    """The run ``run_id`` again, going on at ``step`` from a framework's own checkpoint at
    ``path``, which the framework has loaded itself (Lightning's ``ckpt_path``, HF's
    ``resume_from_checkpoint``). All or nothing, as ``init(resume=...)``: ResumeError, with
    nothing changed, when the run cannot be continued."""
    at = (step, str(path), framework)
    notebook.before_init()
    run = resume_script_run(open_database(db), run_id, Run, at=at)
    _start(run, None, retention.checked(retention.KEEP_LAST, None, "min"), system_metrics)
    notebook.adopt(run)
    return run


def _new_run(database, name, config, live, schema, total_steps, recipe, cls) -> Run:
    problem = None if name is None else name_problem(name)
    if problem is not None:
        raise ValueError(f"{problem}, not {str(name)[:40]!r} ({len(str(name))} characters)")
    with errors_name(database):
        values, texts = configs.flatten(config)
        schema = check_schema(schema) if schema is not None else schema_from_config(values, live)
        hparams = resolve(schema, values)
        replay = recipes.load(recipe, schema, total_steps) if recipe is not None else None
    run = create_script_run(database, name, hparams, schema, total_steps, cls, replay)
    if texts:
        note = configs.texts_note(texts)
        print(f"lernkurve: run {run.id}: {note}", file=sys.stderr)
        run.event("note", {"message": note}, 0)
    return run


def _start(run: Run, checkpoint_every: int | None, kept: dict, system_metrics) -> None:
    run.checkpoint_every = checkpoint_every
    run.retention = kept
    if system_metrics:
        interval = INTERVAL if system_metrics is True else float(system_metrics)
        start_sampling(run, interval)


@contextmanager
def errors_name(database: Database) -> Iterator[None]:
    """A config the run refuses says which database it was going into (there may be several)."""
    try:
        yield
    except (HParamError, recipes.RecipeError, TypeError) as err:
        where = f" (database: {shown_url(database.url)})"
        if isinstance(err, HParamError):
            raise HParamError(err.key, err.message + where) from None
        raise type(err)(f"{err}{where}") from None
