"""The CPUs this process may use (affinity and cgroup CPU quota) and how batch scoring splits them into worker
processes × onnxruntime threads."""

from __future__ import annotations

from dataclasses import dataclass

THREADS_PER_WORKER = 4
"""Threads per worker when neither is set: onnxruntime's intra-op threads help a small encoder's batch up to a few
cores, while tokenising, rule signals and answers run in one Python thread per process; beyond that, more processes
scale better than more threads."""


@dataclass(frozen=True)
class CpuPlan:
    """Worker processes (or Ray actors) and the onnxruntime intra-op threads of each."""

    workers: int
    threads: int


def usable_cpus() -> int:
    """CPUs this process may use: the least of the machine's count, its CPU affinity and a cgroup CPU quota
    (a container limited to 2.5 CPUs gets 3), as joblib (loky) counts them."""
    from joblib import cpu_count  # loky reads cgroup v1 and v2 quotas; imported here, only batch jobs need it

    return max(1, int(cpu_count()))


def cpu_plan(workers: int = 0, threads: int = 0, cpus: int | None = None) -> CpuPlan:
    """Split `cpus` (default: usable_cpus()) into workers × threads; 0 means derive it. Workers: one per
    THREADS_PER_WORKER CPUs, or per `threads` CPUs when more are asked (at least one); threads: the CPUs shared
    evenly among the workers. So 2 CPUs -> 1 × 2, 16 -> 4 × 4, 16 with 8 threads -> 2 × 8."""
    if workers < 0 or threads < 0:
        raise ValueError("workers and threads are 0 (derive) or positive")
    n = max(1, cpus if cpus is not None else usable_cpus())
    workers = workers or max(1, n // max(threads, THREADS_PER_WORKER))
    return CpuPlan(workers, threads or max(1, n // workers))
