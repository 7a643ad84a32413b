"""Design-space exploration: which macro meets the accuracy a model needs, under which noise, at what energy.

A space file (`space.py`) names target TOML parameters and noise settings with ranges or choices; a searcher
(`search.py`: grid, random, or Ray Tune with Optuna) picks points; each point converts the model(s) with that
target (it must fit), simulates N chips and records accuracy, energy, latency, area and utilization
(`point.py`); points are cached by content hash (`cache.py`) and evaluated by a runner (`runners.py`: a local
process pool, or Ray tasks); `pareto.py` writes the fronts, the plot and the best design as a target TOML.
`sweep.py` ties these together for `cimsdk explore`. docs/explore.md explains what to sweep and why.
"""
