"""What the timing benchmarks share: one core, and a timing loop.

Imported before numpy (first among a script's imports): it sets the thread pools of BLAS and OpenMP to
one thread, which they read once, when numpy loads, in this process and in the workers it starts.
"""

import os
import time

for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = "1"


def timed(function, repeats: int) -> list[float]:
    """Wall seconds of each of ``repeats`` calls of ``function()``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times
