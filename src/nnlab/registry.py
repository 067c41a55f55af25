"""The registry of experiments: every module of ``nnlab/experiments/``, and those named in ``$NNLAB_EXPERIMENTS``
(comma-separated module names, for exercises kept outside nnlab), each defining ``EXPERIMENT``.

Everything that deals with experiments in general (the command line, presets, sweeps, trials, the index) loops
over :func:`experiments`; nothing else names one.
"""

from __future__ import annotations

import importlib
import os
import pkgutil

from nnlab.experiment import Experiment

PACKAGE = "nnlab.experiments"
ENVIRONMENT = "NNLAB_EXPERIMENTS"

_found: dict[str, Experiment] | None = None
_problems: list[str] = []


def _modules() -> list[str]:
    package = importlib.import_module(PACKAGE)
    builtin = [f"{PACKAGE}.{info.name}" for info in pkgutil.iter_modules(package.__path__) if info.name[0] != "_"]
    extra = [name.strip() for name in os.environ.get(ENVIRONMENT, "").split(",") if name.strip()]
    return builtin + extra


def _load() -> dict[str, Experiment]:
    found: dict[str, Experiment] = {}
    _problems.clear()
    for name in _modules():
        try:
            experiment = importlib.import_module(name).EXPERIMENT
        except Exception as exc:  # a broken plug-in module must not stop the built-in commands
            _problems.append(f"{ENVIRONMENT}: cannot load the experiment module {name!r} ({type(exc).__name__}: {exc})")
            continue
        if not isinstance(experiment, Experiment) or experiment.name in found:
            _problems.append(f"{ENVIRONMENT}: {name!r} does not define a new EXPERIMENT; left out")
            continue
        found[experiment.name] = experiment
    return dict(sorted(found.items(), key=lambda item: (item[1].order, item[0])))


def experiments() -> list[Experiment]:
    """Every registered experiment, in their declared order."""
    global _found
    if _found is None:
        _found = _load()
    return list(_found.values())


def find(name: str) -> Experiment | None:
    """The experiment of the command ``name``, or None."""
    return next((experiment for experiment in experiments() if experiment.name == name), None)


def names() -> list[str]:
    return [experiment.name for experiment in experiments()]


def problems() -> list[str]:
    """Why modules named in $NNLAB_EXPERIMENTS were left out (shown as warnings)."""
    experiments()
    return list(_problems)


def reload() -> list[Experiment]:
    """Discover the experiments again (after $NNLAB_EXPERIMENTS changed)."""
    global _found
    _found = None
    return experiments()
