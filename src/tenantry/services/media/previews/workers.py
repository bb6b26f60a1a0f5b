"""A small pool of worker processes that render previews off the event loop and outlive crashes.

Conversions run in separate processes (spawned fresh, each recycled after a number of jobs), so a
slow or crashing conversion never blocks an API request. The processes start with the first job
and exit once no job has been in flight for `idle_seconds`, so an idle media service has none:
a timer thread waits out the idle time, nothing polls. A worker that dies breaks the standard
process pool; this pool then replaces it at once and retries the jobs that were in flight once on
the new pool (a file that kills its worker twice fails with `worker_crashed`). A job still running
well past its conversion timeout (a hang outside the LibreOffice sandbox, which has its own
timeout) is failed with `conversion_timeout` and its pool's workers are killed and replaced.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
from concurrent.futures import Future, InvalidStateError, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from types import TracebackType

from .errors import CONVERSION_TIMEOUT, WORKER_CRASHED, PreviewFailed
from .limits import PreviewLimits
from .orphans import exit_with_parent
from .result import PreviewResult


@dataclass(frozen=True, slots=True)
class _Job:
    data: bytes
    name: str
    limits: PreviewLimits


class PreviewWorkers:
    """Render previews in `workers` processes; `submit` never blocks on a conversion."""

    def __init__(
        self,
        workers: int = 2,
        limits: PreviewLimits | None = None,
        *,
        jobs_per_worker: int = 50,
        overdue_grace: float = 30.0,
        idle_seconds: float = 30.0,
    ) -> None:
        self._workers = workers
        self._limits = limits or PreviewLimits()
        self._jobs_per_worker = jobs_per_worker
        self._overdue_grace = overdue_grace
        self._idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._closed = False
        self._executor: ProcessPoolExecutor | None = None
        self._in_flight = 0
        self._idle_timer: threading.Timer | None = None

    def submit(
        self, data: bytes, name: str, limits: PreviewLimits | None = None
    ) -> Future[PreviewResult]:
        """Queue a file; the future ends in a PreviewResult or PreviewFailed(reason).

        From async code: `await asyncio.wrap_future(workers.submit(...))`, or `await render(...)`.
        """
        outcome: Future[PreviewResult] = Future()
        with self._lock:
            self._in_flight += 1
            if self._idle_timer is not None:
                self._idle_timer.cancel()
                self._idle_timer = None
        outcome.add_done_callback(self._job_done)
        try:
            self._dispatch(_Job(data, name, limits or self._limits), outcome, retries=1)
        except BaseException:
            _resolve(outcome, error=RuntimeError("the preview workers are closed"))
            raise
        return outcome

    async def render(
        self, data: bytes, name: str, limits: PreviewLimits | None = None
    ) -> PreviewResult:
        """Await a preview without blocking the event loop."""
        return await asyncio.wrap_future(self.submit(data, name, limits))

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (for health checks and operators); none when idle."""
        with self._lock:
            executor = self._executor
        processes = getattr(executor, "_processes", None) or {}
        return [process.pid for process in list(processes.values()) if process.is_alive()]

    def close(self) -> None:
        """Stop taking jobs, cancel queued ones, and wait for the workers to exit."""
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
            if self._idle_timer is not None:
                self._idle_timer.cancel()
                self._idle_timer = None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def _job_done(self, _outcome: Future[PreviewResult]) -> None:
        """Once no job is left in flight, let the workers go after the idle time."""
        with self._lock:
            self._in_flight -= 1
            if self._in_flight or self._closed or self._executor is None:
                return
            timer = threading.Timer(self._idle_seconds, self._retire_if_idle)
            timer.daemon = True
            self._idle_timer = timer
        timer.start()

    def _retire_if_idle(self) -> None:
        with self._lock:
            if self._in_flight or self._executor is None:
                return
            executor, self._executor = self._executor, None
            self._idle_timer = None
        executor.shutdown(wait=True, cancel_futures=False)

    def __enter__(self) -> PreviewWorkers:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self._workers,
            mp_context=multiprocessing.get_context("spawn"),
            max_tasks_per_child=self._jobs_per_worker,
            initializer=exit_with_parent,
            initargs=(os.getpid(),),
        )

    def _current(self) -> ProcessPoolExecutor:
        """The pool, started if it is not running (the first job, or the first after idling)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the preview workers are closed")
            if self._executor is None:
                self._executor = self._new_executor()
            return self._executor

    def _dispatch(self, job: _Job, outcome: Future[PreviewResult], retries: int) -> None:
        while True:
            executor = self._current()
            try:
                running = executor.submit(render_in_worker, job.data, job.name, job.limits)
            except BrokenProcessPool:
                self._replace(executor)
                continue
            break
        watchdog = threading.Timer(
            job.limits.conversion_timeout + self._overdue_grace,
            self._overdue,
            (running, outcome, executor),
        )
        watchdog.daemon = True
        watchdog.start()
        running.add_done_callback(
            lambda done: self._settle(done, job, outcome, executor, watchdog, retries)
        )

    def _settle(
        self,
        done: Future[PreviewResult],
        job: _Job,
        outcome: Future[PreviewResult],
        executor: ProcessPoolExecutor,
        watchdog: threading.Timer,
        retries: int,
    ) -> None:
        watchdog.cancel()
        if outcome.done():
            return
        error: BaseException | None = (
            BrokenProcessPool("cancelled") if done.cancelled() else done.exception()
        )
        if isinstance(error, BrokenProcessPool):
            self._replace(executor)
            if retries > 0 and not self._closed:
                try:
                    self._dispatch(job, outcome, retries - 1)
                    return
                except RuntimeError:
                    pass
            _resolve(outcome, error=PreviewFailed(WORKER_CRASHED, "the worker process died"))
        elif error is not None:
            _resolve(outcome, error=error)
        else:
            _resolve(outcome, result=done.result())

    def _overdue(
        self,
        running: Future[PreviewResult],
        outcome: Future[PreviewResult],
        executor: ProcessPoolExecutor,
    ) -> None:
        if running.done():
            return
        _resolve(outcome, error=PreviewFailed(CONVERSION_TIMEOUT, "the worker did not answer"))
        processes = getattr(executor, "_processes", None) or {}
        for process in list(processes.values()):
            process.kill()
        self._replace(executor)

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is not broken or self._closed:
                return
            self._executor = self._new_executor()
        broken.shutdown(wait=False, cancel_futures=True)


def _resolve(
    outcome: Future[PreviewResult],
    *,
    result: PreviewResult | None = None,
    error: BaseException | None = None,
) -> None:
    try:
        if error is not None:
            outcome.set_exception(error)
        elif result is not None:
            outcome.set_result(result)
    except InvalidStateError:
        pass  # already failed as overdue


def render_in_worker(data: bytes, name: str, limits: PreviewLimits) -> PreviewResult:
    """`render_previews` in a worker process, which imports the renderers on its first file."""
    from .pipeline import render_previews

    return render_previews(data, name, limits)
