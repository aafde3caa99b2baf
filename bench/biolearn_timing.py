"""Seconds biolearn 0.9.1 takes for each of its models on a matrix written by bench/clocks.py.

Run by bench/clocks.py in a virtualenv that has biolearn (never the project's: it pulls in torch and
cvxpy), with one core:

    /tmp/blvenv/bin/python bench/biolearn_timing.py DIRECTORY MODEL...

DIRECTORY holds betas.npy (samples x CpGs, float64), cpg_ids.txt and ages.npy / sexes.npy (GrimAge's
metadata). Prints one line per model: name, seconds (one run, the model built beforehand), samples.
"""

import _timing  # noqa: F401  (first: one thread for BLAS and OpenMP before numpy loads)

import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from biolearn.data_library import GeoData  # noqa: E402
from biolearn.model_gallery import ModelGallery  # noqa: E402


def main() -> None:
    directory = Path(sys.argv[1])
    values = np.load(directory / "betas.npy")
    cpg_ids = (directory / "cpg_ids.txt").read_text().split()
    samples = [f"S{i}" for i in range(values.shape[0])]
    betas = pd.DataFrame(values.T, index=cpg_ids, columns=samples)
    metadata = pd.DataFrame({"age": np.load(directory / "ages.npy"), "sex": np.load(directory / "sexes.npy")},
                            index=samples)
    gallery = ModelGallery()
    for name in sys.argv[2:]:
        model = gallery.get(name, imputation_method="none")
        data = GeoData(metadata.copy(), betas.copy())   # biolearn adds rows to the frame it is given
        start = time.perf_counter()
        model.predict(data)
        print(f"{name}\t{time.perf_counter() - start:.4f}\t{len(samples)}", flush=True)


if __name__ == "__main__":
    main()
