"""The experiments of the lab, one module each (see nnlab/experiment.py for what a module declares)."""
