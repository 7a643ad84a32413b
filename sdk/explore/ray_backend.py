"""Monte Carlo chips as Ray tasks, for `cimsdk simulate --ray`: a `mapper` for `cimsdk.sim.simulate.run_trials`.

Each block of chips (`chip_blocks`) becomes one Ray task running `block_predictions`, the function the local
threads run; a block is seeded by its first chip, so the numbers equal a local run with the same blocks.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cimconv.errors import UserError
from cimsdk.explore.runners import _limit_threads, connect_ray


def _block(common: dict, t0: int, n: int) -> np.ndarray:
    from cimsdk.sim.simulate import block_predictions

    _limit_threads(1)  # one Ray CPU per task
    return block_predictions(**common, t0=t0, n=n)


def chip_mapper(address: str) -> Callable:
    """A mapper(common, blocks, progress) that runs each (first chip, count) block as a Ray task."""
    connect_ray(address)
    import ray

    task = ray.remote(num_cpus=1)(_block)

    def mapper(common: dict, blocks: list[tuple[int, int]], progress=None) -> list[np.ndarray]:
        ref = ray.put(common)
        futures = [task.remote(ref, t0, n) for t0, n in blocks]
        pending = list(futures)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for d in done:
                    out = ray.get(d)
                    if progress is not None:
                        progress(out.size)
        except ray.exceptions.RayError as exc:
            raise UserError(f"a Ray task failed on the cluster at {address}: "
                            f"{str(exc).strip().splitlines()[-1]}; is the same cimsdk installed on every node?"
                            ) from None
        return [ray.get(f) for f in futures]

    return mapper
