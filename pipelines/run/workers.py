"""The worker processes that normalise a run's channels (``stages.normalise_channels``): parsers, and stagers that
validate and stage what the parsers parked. Fresh processes (``spawn``) that die with the run that started them."""

from __future__ import annotations

import atexit
import gc
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

Timed = tuple[float, float, list[dict[str, Any]]]


def timed_call(fn: Callable[..., list[dict[str, Any]]], *args: Any) -> Timed:
    """Wall seconds, CPU seconds (user plus system, of every thread of the process) and result of a call."""
    start, cpu = time.perf_counter(), time.process_time()
    result = fn(*args)
    return time.perf_counter() - start, time.process_time() - cpu, result


_PR_SET_PDEATHSIG = 1  # prctl(2)


def _die_with_parent(parent_pid: int) -> None:
    """Start of every worker: it ends when the run that started it ends, even by ``kill -9`` (a worker that
    outlived its run would go on writing staging). On Linux the kernel kills it (``PR_SET_PDEATHSIG``);
    elsewhere a thread checks every second that its parent is still there."""
    armed = False
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            ulong = ctypes.c_ulong
            armed = libc.prctl(_PR_SET_PDEATHSIG, ulong(signal.SIGKILL), ulong(0), ulong(0), ulong(0)) == 0
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent_pid:  # the run ended before the worker was armed
        os._exit(1)
    if not armed:

        def watch() -> None:
            while os.getppid() == parent_pid:
                time.sleep(1.0)
            os._exit(1)

        threading.Thread(target=watch, name="parent-watch", daemon=True).start()


# Optional dependencies of the validation library that a stager never uses: it validates pandas frames only.
# Great Expectations imports SQLAlchemy when it is installed (Airflow installs it) and works without it (each of
# its imports of it is guarded): marked absent, an import of it raises ImportError, which the library takes as
# "not installed". About 0.4 of the 3 CPU-s its import takes.
UNUSED_BY_STAGERS = ("sqlalchemy",)


def _prepare_worker(parent_pid: int) -> None:
    """Start of a staging worker: the validation library imported and every suite built up front, while the
    caller ingests and the parsers parse."""
    _die_with_parent(parent_pid)
    for name in UNUSED_BY_STAGERS:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]  # None: "not importable" (importlib docs)
    # The objects the start creates (modules, classes, suites) live as long as the worker: the cyclic garbage
    # collector does not look for garbage among them while they are built (about 0.5 CPU-s of the start), nor
    # afterwards (``gc.freeze``: a full collection in the middle of staging took 0.2-0.3 s).
    gc.disable()
    try:
        from pipelines.validate import contracts as validate

        atexit.register(_end_at_once)
        validate.prepare()
    finally:
        gc.freeze()
        gc.enable()


def _end_at_once() -> None:
    """Last exit step of a staging worker. With the validation library loaded, the interpreter's teardown
    (unloading thousands of modules) takes about a second, which the run would wait for; the worker's
    results are sent and its files closed by then, so after flushing its logs it ends without it."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _ready() -> float:
    """A worker's CPU seconds from its start until now: starting the interpreter, importing, and for a stager
    the validation library and its suites (its initializer has run before any task)."""
    return time.process_time()


_JEMALLOC_CONF = "_RJEM_MALLOC_CONF"  # options of the allocator built into Polars


class Normalisers:
    """The worker processes of ``normalise_channels``: parsers, and stagers that validate and stage what the
    parsers parked. The stagers import the validation library and build its suites as they start, while the
    caller ingests and the parsers parse; the parsers never load it. Fresh processes (``spawn``): nothing of
    the caller is inherited, and once shut down their memory is returned before reconciliation starts. They
    die with the process that started them (``_die_with_parent``)."""

    def __init__(self, workers: int = 1) -> None:
        n = max(1, workers)
        spawn = multiprocessing.get_context("spawn")
        self.workers = n
        me = (os.getpid(),)
        self.stagers = ProcessPoolExecutor(max_workers=n, mp_context=spawn, initializer=_prepare_worker, initargs=me)
        self.parsers = ProcessPoolExecutor(max_workers=n, mp_context=spawn, initializer=_die_with_parent, initargs=me)
        self.started: dict[str, list[Future[float]]] = {"stagers": [], "parsers": []}
        for _ in range(n):
            self.started["stagers"].append(self.stagers.submit(_ready))
        # a parser holds a file's raw bytes and columns only while it parses it: its Polars allocator
        # (jemalloc) returns freed pages at once instead of keeping them for reuse, so the parsers' resident
        # memory does not add to the stagers' peak
        previous = os.environ.get(_JEMALLOC_CONF)
        os.environ[_JEMALLOC_CONF] = "dirty_decay_ms:0,muzzy_decay_ms:0"
        try:
            for _ in range(n):
                self.started["parsers"].append(self.parsers.submit(_ready))
        finally:
            if previous is None:
                del os.environ[_JEMALLOC_CONF]
            else:
                os.environ[_JEMALLOC_CONF] = previous

    def start_cpu_s(self) -> dict[str, float]:
        """CPU seconds the workers took to get ready (``parser_start``, ``stager_start``, summed over workers)."""
        return {f"{kind[:-1]}_start": sum(f.result() for f in futures) for kind, futures in self.started.items()}

    def __enter__(self) -> Normalisers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.parsers.shutdown(wait=True)
        self.stagers.shutdown(wait=True)


def start_normalisers(workers: int = 1) -> Normalisers:
    """Start the worker processes of ``normalise_channels`` (``workers`` parsers and as many stagers)."""
    return Normalisers(workers)
