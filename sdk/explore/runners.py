"""Where points are evaluated: a local process pool (default, all cores) or Ray tasks on a cluster.

Both call the same pure `point.evaluate(ctx, job)`, so a point's record is the same whichever runner ran it;
only the wall time differs. The driver (sweep.py) keeps the cache and the progress bar, so a runner only has
to hand back each record as it finishes (`on_result`).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from cimconv.errors import UserError
from cimsdk.explore.point import Context, Job, evaluate

OnResult = Callable[[dict], None]
_BLAS_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

_CTX: Context | None = None


def _limit_threads(n: int) -> None:
    """Compiled kernels (numba) default to one thread per core; a worker sharing the cores takes its share."""
    try:
        import numba

        numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    except ImportError:  # pragma: no cover - numba is a dependency
        pass


def _init_worker(ctx: Context, threads: int) -> None:
    global _CTX
    _CTX = ctx
    _limit_threads(threads)


def _eval_in_worker(job: Job) -> dict:
    assert _CTX is not None
    return evaluate(_CTX, job)


class LocalRunner:
    """A pool of `processes` worker processes (spawned: no state forked from the driver's threads)."""

    name = "local"

    def __init__(self, processes: int | None = None):
        self.processes = max(1, processes or os.cpu_count() or 1)

    def describe(self) -> str:
        return f"local, {self.processes} worker process{'es' if self.processes > 1 else ''}"

    def run(self, ctx: Context, jobs: Sequence[Job], on_result: OnResult) -> None:
        if not jobs:
            return
        n = min(self.processes, len(jobs))
        threads = max(1, (os.cpu_count() or 1) // n)
        # BLAS thread pools are sized when numpy loads, so the spawned workers get the limit from their
        # environment (n processes x all-core BLAS pools would fight over the cores)
        saved = {k: os.environ.get(k) for k in _BLAS_ENV}
        os.environ.update(dict.fromkeys(_BLAS_ENV, str(threads)))
        pool = ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
                                   initargs=(ctx, threads))
        try:
            pending = {pool.submit(_eval_in_worker, job) for job in jobs}
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    on_result(f.result())
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def _ray_eval(ctx: Context, job: Job) -> dict:
    from cimsdk.explore.point import point_version

    if ctx.code_version and point_version() != ctx.code_version:
        raise UserError(f"this Ray worker runs other cimsdk code ({point_version()}) than the driver "
                        f"({ctx.code_version}); install the same cimsdk on every node")
    _limit_threads(1)  # one Ray CPU per task
    return evaluate(ctx, job)


def connect_ray(address: str) -> None:
    """Connect to a running Ray cluster ("auto": the one on this machine or at $RAY_ADDRESS)."""
    try:
        import ray
    except ImportError:
        raise UserError("--ray needs Ray: pip install 'cimsdk[explore]'") from None
    if ray.is_initialized():
        return
    try:
        ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise UserError(f"--ray {address}: cannot connect to a Ray cluster ({str(exc).splitlines()[0]}); start one "
                        "with `ray start --head` or give its ADDRESS (host:port)") from None


class RayRunner:
    """Each (point, model) is one Ray task of one CPU; the context goes to the object store once."""

    name = "ray"

    def __init__(self, address: str):
        self.address = address

    def describe(self) -> str:
        import ray

        connect_ray(self.address)
        return f"Ray at {self.address}, {int(ray.cluster_resources().get('CPU', 0))} CPUs"

    def run(self, ctx: Context, jobs: Sequence[Job], on_result: OnResult) -> None:
        import ray

        connect_ray(self.address)
        if not jobs:
            return
        task = ray.remote(num_cpus=1)(_ray_eval)
        ref = ray.put(ctx)
        pending = [task.remote(ref, job) for job in jobs]
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for d in done:
                    try:
                        rec = ray.get(d)
                    except ray.exceptions.RayError as exc:
                        cause = str(exc).strip().splitlines()[-1]
                        raise UserError(f"a Ray task failed on the cluster at {self.address}: {cause}; is the "
                                        "same cimsdk installed (importable) on every node?") from None
                    on_result(rec)
        finally:
            for p in pending:
                ray.cancel(p, force=True)

    def close(self) -> None:
        import ray

        if ray.is_initialized():
            ray.shutdown()
