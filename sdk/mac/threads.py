"""Batch chunks on worker threads, each running single-threaded kernels.

Why not the kernels' own threads: fine-grained parallel loops (OpenBLAS's, numba's prange) meet at a barrier
after every call, and on a shared machine one descheduled thread stalls the other; measured on the 2-core
machine under load, a 8,000 x 64 x 64 sgemm took 32 ms with OpenBLAS's two threads and 0.8 ms with one. So
an op's batch is cut into cache-sized chunks that run independently on `workers()` threads (numpy's BLAS
calls and the compiled kernels release the GIL), with BLAS held to one thread meanwhile.

`workers()` follows numba's thread count, so `numba.set_num_threads` (what `cimsdk explore` sets per worker
process) bounds it too.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_limiter = None
_controller = None
_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def workers() -> int:
    try:
        import numba

        return max(1, numba.get_num_threads())
    except ImportError:  # pragma: no cover - numba is a dependency
        return max(1, os.cpu_count() or 1)


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """BLAS limited to one thread while any caller is inside (re-entrant, thread-safe)."""
    global _depth, _limiter, _controller
    with _lock:
        if _depth == 0:
            if _controller is None:  # scanning the loaded libraries costs milliseconds: once
                try:
                    from threadpoolctl import ThreadpoolController

                    _controller = ThreadpoolController()
                except ImportError:  # pragma: no cover - a dependency; without it BLAS keeps its threads
                    _controller = False
            _limiter = _controller.limit(limits=1, user_api="blas") if _controller else None
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _limiter is not None:
                _limiter.restore_original_limits()
                _limiter = None


def _executor(n: int) -> ThreadPoolExecutor:
    """One process-wide pool, grown (never shrunk) to the largest worker count asked for."""
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < n:
            if _pool is not None:  # the smaller pool's threads end once their queued work is done
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(n, thread_name_prefix="cimsdk-mac")
            _pool_size = n
        return _pool


def in_worker() -> bool:
    """Whether the caller runs on one of map_chunks's worker threads (BLAS is held to one thread there)."""
    return threading.current_thread().name.startswith("cimsdk-mac")


def map_chunks(fn: Callable[[int, int], object], total: int, chunk: int) -> list:
    """[fn(i, min(i + chunk, total)) for i in range(0, total, chunk)], on worker threads when there are several
    chunks and several workers; results in order."""
    spans = [(i, min(i + chunk, total)) for i in range(0, total, chunk)]
    n = min(workers(), len(spans))
    with single_threaded_blas():
        if n <= 1 or threading.current_thread().name.startswith("cimsdk-mac"):
            return [fn(a, b) for a, b in spans]
        # n tasks take the chunks one by one (at most n run at once whatever the pool's size, and a task
        # that the machine stalls holds up only its current chunk)
        results: list = [None] * len(spans)
        todo = iter(range(len(spans)))
        take = threading.Lock()

        def work(_task: int) -> None:
            while True:
                with take:
                    i = next(todo, None)
                if i is None:
                    return
                results[i] = fn(*spans[i])

        list(_executor(n).map(work, range(n)))
        return results


__all__ = ["in_worker", "map_chunks", "single_threaded_blas", "workers"]
