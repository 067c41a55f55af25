"""Where a sweep's trials run: a Dask client on a LocalCluster of worker processes on loopback (the default), or on
any running scheduler by address (the way out to many machines), and the trials submitted there, yielded as they
finish. A worker that dies has its trials rerun on another worker by Dask.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import os
import select
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from nnlab.errors import ClusterError, first_line
from nnlab.files import signals_held
from nnlab.schema import TrialRecord
from nnlab.sweep.grid import Grid, Plan, Trial, record

if TYPE_CHECKING:
    from distributed import Client, Future

    from nnlab.sweep.adaptive import Schedule

CONNECT_SECONDS = 10  # to open the connection (Dask retries until then)
HANDSHAKE_SECONDS = 2  # then for the scheduler to answer: within the 15 s README promises
# Dask's scheduler and workers always listen for HTTP; the local cluster's serve no page at all (no dashboard, no
# health or JSON routes) on a port of the system's choosing on loopback, so two sweeps at once never collide.
LOCAL_CONFIG = {"distributed.scheduler.http.routes": [], "distributed.worker.http.routes": []}
SCRATCH_PREFIX = "nnlab-sweep-"  # then the pid of the sweep that owns it
SILENT = logging.CRITICAL + 1  # Dask's own log lines never reach the terminal: nnlab says what matters in one line
WORKER_CLOSE_SECONDS = 0.5  # then a local worker still in a trial is killed (Dask waits 4 s; the trial is lost anyway)
TASKS_PER_WORKER = 8  # small trials are batched into about this many tasks per worker, so that work still balances


def _forked_worker() -> None:
    """In a worker process forked from the client: Ctrl-C in the terminal is the client's to handle (it closes the
    cluster), and SIGTERM ends the worker at once; not the client's handlers, inherited by the fork. And the worker
    ends as soon as the client does, even in the middle of a trial (the client killed with kill -9)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    threading.Thread(target=_exit_with, args=(os.getppid(),), name="nnlab-client-watch", daemon=True).start()


def _exit_with(client: int) -> None:
    """End this process when the process ``client`` ends. Dask's own watch (a pipe per worker whose writing end only
    the client holds) never fires for forked workers: each inherits the pipes of the workers started with it, so they
    keep each other alive until their trials end, minutes after the client is gone."""
    try:
        handle = os.pidfd_open(client)  # readable once the process has ended
    except (AttributeError, OSError):  # no pidfd (not Linux 5.3+), or the client is gone already
        while os.getppid() == client:
            time.sleep(0.5)
    else:
        select.select([handle], [], [])
    os._exit(1)


@functools.cache
def _prepare_forked_workers() -> None:
    os.register_at_fork(after_in_child=_forked_worker)  # once per process: hooks add up


def _local_cluster(workers: int, scratch: Path) -> object:
    import dask
    from distributed import LocalCluster

    _prepare_forked_workers()
    try:
        with dask.config.set(
            LOCAL_CONFIG
            | {"distributed.worker.multiprocessing-method": _start_method(), "temporary-directory": str(scratch)}
        ):
            return LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",
                scheduler_kwargs={"dashboard": False},
                local_directory=str(scratch),
                silence_logs=logging.ERROR,
            )
    except Exception as exc:
        raise ClusterError(f"cannot start a local Dask cluster ({type(exc).__name__}: {exc})") from None


def _remote_client(scheduler: str) -> Client:
    """A client connected to ``scheduler`` within CONNECT_SECONDS plus a few, however the other end behaves: what
    listens there may not be a Dask scheduler at all (a web server, a dashboard's port), and then Dask's handshake
    waits for an answer for ever or fails in the comm layer's own terms."""
    from distributed import Client

    advice = "start one with 'dask scheduler', or drop --scheduler to run here"
    outcome: list[Client | BaseException] = []
    answered = threading.Event()

    def attempt() -> None:
        try:
            outcome.append(Client(scheduler, timeout=CONNECT_SECONDS))
        except BaseException as exc:  # handed over to the thread that waits
            outcome.append(exc)
        answered.set()

    # A daemon thread: one still waiting on a silent peer never keeps the process from ending.
    threading.Thread(target=attempt, name="nnlab-connect", daemon=True).start()
    if not answered.wait(CONNECT_SECONDS + HANDSHAKE_SECONDS):
        raise ClusterError(
            f"{scheduler}: no Dask scheduler answered within {CONNECT_SECONDS + HANDSHAKE_SECONDS} s (is it the "
            f"scheduler's address, not its dashboard's?); {advice}"
        )
    if isinstance(outcome[0], BaseException):
        raise ClusterError(f"{scheduler}: cannot reach the Dask scheduler ({first_line(outcome[0])}); {advice}")
    return outcome[0]


@contextlib.contextmanager
def connect(scheduler: str | None, workers: int, command: str) -> Iterator[Client]:
    """A Dask client for the sweep: connected to ``scheduler``, or to a LocalCluster of ``workers`` processes (one
    thread each) listening on 127.0.0.1 only, with no dashboard and its scratch space in a temporary folder that is
    removed, with the processes, however the sweep ends (kill -9 aside: then the workers end by themselves, losing
    their scheduler, and the next sweep removes the folder). The workers import what the trials need first.
    """
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", str(SILENT))  # the workers' Dask reads it as it starts
    from distributed import Client

    _silence_dask_logs()
    with contextlib.ExitStack() as stack:
        # The local cluster starts and stops with Ctrl-C and SIGTERM held back (a few seconds; delivered right
        # after): a stop in the middle of either left worker processes and scratch files behind.
        with signals_held():
            _remove_stale_scratch()
            scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-"))
            stack.callback(_held, lambda: shutil.rmtree(scratch, ignore_errors=True))
            if scheduler is None:
                cluster = _local_cluster(workers, scratch)
                stack.callback(_held, lambda: _quietly(lambda: _close_local(cluster)))
                client = Client(cluster)
                stack.callback(_held, lambda: _quietly(lambda: client.close(timeout=10)))
        if scheduler is not None:  # not held: Ctrl-C stops the wait for a scheduler that does not answer
            client = _remote_client(scheduler)
            stack.callback(_held, lambda: _quietly(lambda: client.close(timeout=10)))
        client.run(_warm_up, command)
        yield client


def _close_local(cluster: object) -> None:
    """Stop the local workers, then their cluster. Ctrl-C in the middle of a trial of minutes stops the sweep in about a
    second: a worker still busy after WORKER_CLOSE_SECONDS is killed instead of being waited for."""

    async def close_workers() -> None:
        workers = list(cluster.workers.values())  # type: ignore[attr-defined]
        await asyncio.gather(*(worker.close(timeout=WORKER_CLOSE_SECONDS) for worker in workers))

    try:
        cluster.sync(close_workers)  # type: ignore[attr-defined]
    finally:
        cluster.close(timeout=10)  # type: ignore[attr-defined]


def _held(action: Callable[[], object]) -> None:
    with signals_held():
        action()


def _silence_dask_logs() -> None:
    """Also its event loop's: a cluster closed under running futures (Ctrl-C) logs each one's lost connection."""
    for name in ["distributed", "tornado", "asyncio", *logging.Logger.manager.loggerDict]:
        if name.startswith(("distributed", "tornado", "asyncio")):
            logging.getLogger(name).setLevel(SILENT)


def _remove_stale_scratch() -> None:
    """Remove the scratch folders of sweeps whose process is gone (killed with kill -9)."""
    root = Path(tempfile.gettempdir())
    for folder in root.glob(f"{SCRATCH_PREFIX}*-*"):
        pid = folder.name[len(SCRATCH_PREFIX) :].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _quietly(close: Callable[[], object]) -> None:
    with contextlib.suppress(Exception):
        close()


def _start_method() -> str:
    """How the local cluster starts its worker processes: forked from this one on Linux, where two workers are up
    in 0.17 s instead of 0.6 s from fresh interpreters (nothing here has started threads of its own, nor imported
    torch, which only the workers do); a fresh interpreter (spawn) elsewhere, or once torch is loaded here."""
    return "fork" if sys.platform == "linux" and "torch" not in sys.modules else "spawn"


def _warm_up(command: str) -> str:
    from nnlab.trials import warm_up

    return warm_up(command)


def worker_count(client: Client) -> int:
    return max(1, len(client.scheduler_info().get("workers", {})))


def batches(grid: Grid, pending: list[Trial], workers: int) -> list[list[Trial]]:
    """The pending trials in tasks, longest first: one trial each where a trial takes seconds (torch), a few each
    where trials take milliseconds (moons), about eight tasks per worker so that work still balances."""
    ordered = sorted(pending, key=lambda trial: -trial.cost)
    if not grid.experiment.sweep.batched or not ordered:
        return [[trial] for trial in ordered]
    size = max(1, math.ceil(len(ordered) / (TASKS_PER_WORKER * workers)))
    return [ordered[start : start + size] for start in range(0, len(ordered), size)]


def failed_outcome(error: BaseException) -> dict[str, object]:
    """What a trial returns when its task raised on the cluster (its workers kept dying, say)."""
    return {"status": "failed", "reason": f"{type(error).__name__}: {first_line(error)}", "seconds": 0.0}


def results(
    client: Client, grid: Grid, pending: list[Trial], meanwhile: Callable[[], object] | None = None
) -> Iterator[tuple[Trial, TrialRecord]]:
    """Run ``pending`` on the cluster and yield each trial with its record as it finishes; ``meanwhile`` runs here
    while the workers compute. A trial whose workers kept dying is recorded as failed. Leaving early (Ctrl-C)
    cancels what has not run."""
    from distributed import as_completed

    from nnlab.trials import run_trials

    tasks = batches(grid, pending, worker_count(client))
    futures = {}
    for rank, batch in enumerate(tasks):
        future = client.submit(
            run_trials,
            grid.command,
            [trial.settings for trial in batch],
            pure=False,
            priority=len(tasks) - rank,
            key=f"nnlab-trials-{batch[0].id}",
        )
        futures[future] = batch
    try:
        if meanwhile is not None:
            meanwhile()
        for future, outcome in as_completed(futures, with_results=True, raise_errors=False):
            batch = futures[future]
            if isinstance(outcome, BaseException):
                outcome = [failed_outcome(outcome) for _ in batch]
            for trial, result in zip(batch, outcome):
                yield trial, record(grid, trial, result)
    finally:
        unfinished = [future for future in futures if not future.done()]
        if unfinished:
            with contextlib.suppress(Exception):
                client.cancel(unfinished)


def scheduled(
    client: Client,
    grid: Grid,
    schedule: Schedule,
    records: dict[str, TrialRecord],
    meanwhile: Callable[[], object] | None = None,
) -> Iterator[tuple[Trial, TrialRecord]]:
    """Run what ``schedule`` wants, one task per trial, lower seeds first, asking it again as each trial finishes
    (``records`` is updated as they do): wanted trials are submitted at once, trials no longer wanted (a group
    just eliminated) are cancelled. Ends when nothing is running and nothing more is wanted."""
    from distributed import as_completed

    from nnlab.trials import run_trials

    seeds = list(grid.axes["seed"])
    running: dict[str, Future] = {}
    trial_of: dict[Future, Trial] = {}
    queue = as_completed(with_results=True, raise_errors=False)

    def top_up() -> None:
        wanted = schedule.wanted(records)
        wanted_ids = {trial.id for trial in wanted}
        for trial_id in [trial_id for trial_id in running if trial_id not in wanted_ids]:
            with contextlib.suppress(Exception):
                running.pop(trial_id).cancel()
        for trial in wanted:
            if trial.id not in records and trial.id not in running:
                future = client.submit(
                    run_trials,
                    grid.command,
                    [trial.settings],
                    pure=False,
                    priority=len(seeds) - seeds.index(trial.swept["seed"]),
                    key=f"nnlab-trial-{trial.id}",
                )
                running[trial.id] = future
                trial_of[future] = trial
                queue.add(future)

    try:
        top_up()
        if meanwhile is not None:
            meanwhile()
        for future, outcome in queue:
            trial = trial_of.pop(future)
            if running.get(trial.id) is not future:
                continue  # cancelled: no longer wanted
            del running[trial.id]
            result = record(grid, trial, failed_outcome(outcome) if isinstance(outcome, BaseException) else outcome[0])
            records[trial.id] = result
            yield trial, result
            top_up()
    finally:
        if running:
            with contextlib.suppress(Exception):
                client.cancel(list(running.values()))


def run(
    plan: Plan,
    scheduler: str | None,
    workers: int,
    on_record: Callable[[TrialRecord], None],
    meanwhile: Callable[[], object] | None = None,
    schedule: Schedule | None = None,
) -> dict[str, TrialRecord]:
    """Run the plan's pending trials on the cluster (or, with a ``schedule``, those it wants as results arrive),
    calling ``on_record`` as each finishes (and ``meanwhile`` once they are submitted); returns the records of
    every trial of the plan that has one, those finished earlier included."""
    records = dict(plan.finished)
    if schedule is not None:
        if not {trial.id for trial in schedule.wanted(records)} <= records.keys():
            with connect(scheduler, workers, plan.grid.command) as client:
                for _, result in scheduled(client, plan.grid, schedule, records, meanwhile):
                    on_record(result)
    elif plan.pending:
        with connect(scheduler, workers, plan.grid.command) as client:
            for trial, result in results(client, plan.grid, plan.pending, meanwhile):
                records[trial.id] = result
                on_record(result)
    return records


def local_workers(requested: int | None, memory_each: int) -> tuple[int, str]:
    """How many worker processes the local cluster starts for ``requested`` (None: one per CPU core), each taking
    about ``memory_each`` bytes: never more than the cores (a worker runs one trial at a time on one core, so more
    only compete for them) nor than the memory available now holds. Returns the count and, where it is fewer than
    asked for, why."""
    import psutil

    cores = default_workers()
    available = psutil.virtual_memory().available
    fit = max(1, available // memory_each)
    wanted = requested or cores
    if wanted > cores and cores <= fit:
        return cores, f"more than the {cores} CPU cores here (each worker runs one trial at a time on one core)"
    if wanted > fit:
        return fit, (
            f"the {available / 2**30:.1f} GB of memory available hold about {fit} workers of "
            f"{memory_each / 2**30:.1f} GB each"
        )
    return wanted, ""


def default_workers() -> int:
    """One worker per CPU core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover (not Linux)
        return max(1, os.cpu_count() or 1)
