"""Before a pilot starts: predict its peak memory, wall time and cost on the device it
will run on, and whether it fits (predict.py), from the estimator (estimate.py) or a probe
of a few real steps in a fresh process (probe.py, run in the background by job.py)."""

from trainers.preflight.estimate import available_memory_mib, measured_throughput, model_shape
from trainers.preflight.predict import Preflight, can_probe, estimate_pilot, probe_seconds

__all__ = [
    "Preflight",
    "available_memory_mib",
    "can_probe",
    "estimate_pilot",
    "measured_throughput",
    "model_shape",
    "probe_seconds",
]
