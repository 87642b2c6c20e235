"""brusim's Hydra launcher: the sweeps of `brusim run -m` and `brusim sensitivity` through
brusim's executor (`brusim.experiments.executor`), so that ``executor=local|ray|dask|slurm``
means the same in every command. Hydra finds launchers only in the ``hydra_plugins`` package."""
