"""Vendor biolearn 0.9.1's clocks that are not linear models on betas: MiAge, the six GP-age models
and AltumAge, into src/epiclock/data/clocks/.

Run once, by hand, in the scratch virtualenv that has biolearn and torch (tests/fixtures/biolearn/
README.md); epiclock needs neither at run time:

    /tmp/blvenv/bin/python tools/vendor_nonlinear_clocks.py [--only miage,gp_age,altumage]

- MiAge.csv (b, c, d per CpG) -> clocks/miage.tsv, values unchanged.
- GP-age_model_*.json.zip (gzip-compressed GPy JSON: training inputs X, ages Y, RBF kernel variance
  and lengthscale, Gaussian noise variance) -> clocks/gp_age_<model>.npz: the CpG IDs (in the column
  order of X, from biolearn's model definitions, which the JSON lacks), X, the kernel's
  hyperparameters and the weights alpha = (K + (noise + 1e-8) I)^-1 Y, solved here once by a
  Cholesky factorisation in float64 (GPy's exact inference adds the same 1e-8 to the diagonal). A
  prediction is then k(x, X) @ alpha, with no matrix to factor at run time.
- AltumAge.csv (centre and scale per CpG) and AltumAge.pt (torch state dict: six batch-norm and
  linear layers) -> clocks/altumage.npz, every array as stored in the state dict (float32), with
  the CpG IDs, centre and scale (float64, from the CSV).

Each file gets its row in src/epiclock/data/provenance.tsv (source and target sha256).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.linalg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vendor_biolearn_clocks import DATA, provenance_row, sha256, update_provenance, write_table  # noqa: E402

MIAGE = ("Youn A, Wang S. Epigenetics 13(2):192-206 (2018)", "10.1080/15592294.2017.1389361")
GP_AGE = ("Varshavsky M et al. Cell Reports Methods 3(9):100567 (2023)", "10.1016/j.crmeth.2023.100567")
ALTUMAGE = ("de Lima Camillo LP, Lapierre LR, Singh R. npj Aging 8:4 (2022)", "10.1038/s41514-022-00085-y")
# epiclock name suffix -> (biolearn model, biolearn data file)
GP_AGE_MODELS = {
    "10": ("GPAge10", "GP-age_model_10_cpgs.json.zip"),
    "30": ("GPAge30", "GP-age_model_30_cpgs.json.zip"),
    "71": ("GPAge71", "GP-age_model_71_cpgs.json.zip"),
    "a": ("GPAgeA", "GP-age_model_a.json.zip"),
    "b": ("GPAgeB", "GP-age_model_b.json.zip"),
    "c": ("GPAgeC", "GP-age_model_c.json.zip"),
}
# GPy's ExactGaussianInference adds this to the diagonal beside the noise variance.
GPY_JITTER = 1e-8
ALTUMAGE_LAYERS = 6


def write_npz(arrays: dict, target: Path) -> None:
    """A compressed .npz whose zip entries carry a fixed date (numpy stamps the current time), so a
    rerun gives the same bytes and the recorded checksum stays valid."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    buffer.seek(0)
    fixed = io.BytesIO()
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(fixed, "w", zipfile.ZIP_DEFLATED) as out:
        for item in source.infolist():
            info = zipfile.ZipInfo(item.filename, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            out.writestr(info, source.read(item.filename))
    target.write_bytes(fixed.getvalue())


def vendor_miage(source_dir: Path) -> list[dict]:
    source = source_dir / "MiAge.csv"
    table = pd.read_csv(source)
    relative = "clocks/miage.tsv"
    write_table(table.rename(columns={"CpG": "cpg_id"})[["cpg_id", "b", "c", "d"]], DATA / relative)
    print(f"miage\t{len(table)} CpGs")
    return [provenance_row(relative, f"MiAge: per-CpG parameters b, c, d of the curve beta = c + d * b^(n - 1) in the "
                           f"number of divisions n ({len(table)} CpGs); the mitotic age is the least-squares n "
                           "(clocks/miage.py)", *MIAGE, source, "column CpG renamed cpg_id; CSV->TSV; values unchanged")]


def gp_sites() -> dict[str, list[str]]:
    """Each GP-age model's CpGs in the column order of its X, from biolearn's model definitions."""
    from biolearn.model import model_definitions  # noqa: PLC0415 - biolearn only in the scratch venv
    return {model: list(model_definitions[model]["model"]["sites"]) for model, _ in GP_AGE_MODELS.values()}


def vendor_gp_age(source_dir: Path) -> list[dict]:
    rows = []
    sites = gp_sites()
    for suffix, (model, file) in GP_AGE_MODELS.items():
        source = source_dir / file
        definition = json.loads(gzip.decompress(source.read_bytes()))
        kernel, likelihood = definition["kernel"], definition["likelihood"]
        if (definition["class"], kernel["class"], likelihood["class"]) != (
                "GPy.models.GPRegression", "GPy.kern.RBF", "GPy.likelihoods.Gaussian") or kernel["ARD"]:
            raise SystemExit(f"{file}: not a GPy GP regression with an isotropic RBF kernel and Gaussian noise")
        if "normalizer" in definition or definition.get("mean_function"):
            raise SystemExit(f"{file}: a normaliser or mean function is not handled")
        inputs = np.asarray(definition["X"], dtype=float)
        ages = np.asarray(definition["Y"], dtype=float)[:, 0]
        variance, lengthscale = float(kernel["variance"][0]), float(kernel["lengthscale"][0])
        noise = float(likelihood["variance"][0])
        if inputs.shape[1] != len(sites[model]):
            raise SystemExit(f"{file}: {inputs.shape[1]} inputs, but biolearn's {model} names {len(sites[model])} CpGs")
        squared = _squared_distances(inputs)
        covariance = variance * np.exp(-0.5 * squared / lengthscale ** 2)
        covariance[np.diag_indices_from(covariance)] += noise + GPY_JITTER
        weights = scipy.linalg.cho_solve(scipy.linalg.cho_factor(covariance, lower=True), ages)
        del covariance, squared
        # X in the narrowest float type that holds it exactly (GPy wrote half-precision values).
        stored = next(inputs.astype(kind) for kind in (np.float16, np.float32, np.float64)
                      if np.array_equal(inputs.astype(kind).astype(float), inputs))
        relative = f"clocks/gp_age_{suffix}.npz"
        write_npz({"cpg_ids": np.asarray(sites[model], dtype=str), "training_inputs": stored, "weights": weights,
                   "variance": np.float64(variance), "lengthscale": np.float64(lengthscale),
                   "noise_variance": np.float64(noise)}, DATA / relative)
        print(f"gp_age_{suffix}\t{inputs.shape[1]} CpGs\t{len(inputs)} training samples\tX as {stored.dtype}")
        rows.append(provenance_row(
            relative, f"GP-age {model}: Gaussian-process regression on {inputs.shape[1]} CpGs, RBF kernel (variance "
            f"{variance:.6g}, lengthscale {lengthscale:.6g}, noise {noise:.6g}), {len(inputs)} training samples and "
            "their weights; prediction k(x, X) @ weights (clocks/gp_age.py)", *GP_AGE, source,
            "GPy JSON read (gzip); X kept, weights (K + (noise + 1e-8) I)^-1 Y solved by Cholesky in float64 by "
            "tools/vendor_nonlinear_clocks.py; CpG order from biolearn 0.9.1's model definition (biolearn/model.py), "
            "the same as the authors' model_data/GP-age_sites_*.csv (mirivar/GP-age 64db43b, whose model files are "
            "byte-identical); "
            f"X stored as {stored.dtype} (exact); .npz"))
    return rows


def _squared_distances(inputs: np.ndarray) -> np.ndarray:
    """Squared distances between the rows of ``inputs`` as GPy computes them: |a|^2 + |b|^2 - 2 a.b, at
    least 0, and exactly 0 on the diagonal."""
    norms = (inputs ** 2).sum(axis=1)
    squared = np.maximum(norms[:, None] + norms[None, :] - 2.0 * inputs @ inputs.T, 0.0)
    squared[np.diag_indices_from(squared)] = 0.0
    return squared


def vendor_altumage(source_dir: Path) -> list[dict]:
    import torch  # noqa: PLC0415 - torch only in the scratch venv, at vendoring time

    table_source, weights_source = source_dir / "AltumAge.csv", source_dir / "AltumAge.pt"
    scaling = pd.read_csv(table_source, index_col=0)
    state = torch.load(weights_source, map_location="cpu", weights_only=False)
    state = state.get("state_dict", state)
    arrays = {"cpg_ids": np.asarray(scaling.index, dtype=str), "center": scaling["center"].to_numpy(dtype=float),
              "scale": scaling["scale"].to_numpy(dtype=float)}
    for layer in range(1, ALTUMAGE_LAYERS + 1):
        for part in ("weight", "bias", "running_mean", "running_var"):
            arrays[f"bn{layer}_{part}"] = state[f"bn{layer}.{part}"].numpy()
        for part in ("weight", "bias"):
            arrays[f"linear{layer}_{part}"] = state[f"linear{layer}.{part}"].numpy()
    expected = {f"bn{layer}.{part}" for layer in range(1, ALTUMAGE_LAYERS + 1)
                for part in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")}
    expected |= {f"linear{layer}.{part}" for layer in range(1, ALTUMAGE_LAYERS + 1) for part in ("weight", "bias")}
    unused = set(state) - expected
    if unused:
        raise SystemExit(f"AltumAge.pt: unexpected entries {sorted(unused)}")
    relative = "clocks/altumage.npz"
    write_npz(arrays, DATA / relative)
    print(f"altumage\t{len(scaling)} CpGs")
    conversion = ("AltumAge.csv's CpG IDs, center and scale (float64) with AltumAge.pt's torch state dict (six "
                  "BatchNorm1d and Linear layers, float32, as stored; num_batches_tracked dropped) in one .npz by "
                  f"tools/vendor_nonlinear_clocks.py (torch at vendoring time only); AltumAge.csv sha256 {sha256(table_source)}")
    content = ("AltumAge: robust-scaling centre and scale of 20,318 CpGs and a 6-layer neural network (BatchNorm, "
               "Linear 20318-32-32-32-32-32-1, SELU); forward pass in numpy (clocks/altumage.py)")
    return [provenance_row(relative, content, *ALTUMAGE, weights_source, conversion)
            | {"source_file": "biolearn/data/AltumAge.pt (+ biolearn/data/AltumAge.csv)"}]


VENDORS = {"miage": vendor_miage, "gp_age": vendor_gp_age, "altumage": vendor_altumage}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(VENDORS), help="comma-separated: " + ", ".join(VENDORS))
    parser.add_argument("--source-dir", type=Path, default=None,
                        help="biolearn's data directory (default: the installed biolearn's)")
    args = parser.parse_args()
    if args.source_dir is None:
        import biolearn  # noqa: PLC0415 - biolearn only in the scratch venv
        args.source_dir = Path(biolearn.__file__).parent / "data"
    rows = []
    for name in args.only.split(","):
        rows += VENDORS[name](args.source_dir)
    update_provenance(rows)


if __name__ == "__main__":
    main()
