"""``nnlab sweep``: many trials of an experiment over seeds and settings, run on Dask, summarised with honest
statistics.

- grid.py: ``KEY=VALUES`` into a grid, checked by the experiment's own declarations; the trials and the plan (which
  an earlier run finished: a sweep resumes, and grows when extended).
- cluster.py: a Dask client (a LocalCluster on loopback by default, any scheduler by address) and the trials run
  there as they finish (trials.py runs each on a worker).
- summary.py: each group's statistics and the paired comparisons of groups that differ in one key (stats.py).
- race.py (beside this package): the pure decision logic of racing.
Only the client writes files (outputs.py); workers compute and return plain data.
"""
