"""Simulated arrays: a synthetic manifest and IDAT pairs whose intensities carry known betas.

The manifest is in Illumina's CSV layout ([Heading], [Assay], [Controls]) with type I (Red and
Grn) and type II probes, SNP (rs) probes and the control probes of a 450k/EPIC manifest under their
real Type and Extended_Type names, so that the BeadArray Controls Reporter metrics
(epiclock.preprocess.controls) can be computed. Intensities follow the model noob assumes: a normal background
plus an exponential-like signal split between methylated and unmethylated by the true beta, with a
per-sample red/green dye bias, a per-probe one on top (the same on every array), and bead counts;
out-of-band channels of type I probes and the negative controls carry background only. Each control
lights up in the channel(s) it does on a good array, so a normal array passes every control metric. A
failed array has most of its signal missing on a share of its probes and, as a poorly stained array
does, weak staining controls: it fails the staining metrics.

Probes sit on chromosomes (the manifest's CHR, written as 450k and EPIC manifests do: 1-22, X, Y).
Where the sample sheet gives each sample's sex, the array carries chrX and chrY probes whose signal
follows copy number: two X and no Y in a female (chrY probes read background only), one X and one Y
in a male, against two copies of an autosome; so minfi's sex check tells the sexes apart.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from epiclock.clocks import data
from epiclock.errors import EpiclockError
from epiclock.io.idat import BARCODE, CHIP_TYPE, Idat, write_idat
from epiclock.io.tables import atomic_path


@dataclass(frozen=True)
class ControlProbe:
    """One kind of control probe: its manifest texts and its signal above background on a good array."""

    type: str
    colour: str          # the manifest's Color column: a plotting colour, not a measured channel
    extended_type: str
    red: float = 0.0
    green: float = 0.0


def _numbered(type_: str, colour: str, name: str, numbers: range, red: float = 0.0, green: float = 0.0
              ) -> list[ControlProbe]:
    return [ControlProbe(type_, colour, name.format(number), red, green) for number in numbers]


# The control probes of the 450k and EPIC manifests, with the channel each lights up in: staining
# (DNP in red, biotin in green, their background probes dark), extension (A and T in red, C and G in
# green), hybridisation (green, at three concentrations), target removal (dark), bisulfite conversion
# I (the C probes bright and the U probes dark: 1-3 in green, 4-6 in red) and II (red, not green),
# specificity I (perfect match bright, mismatch dark: 1-3 green, 4-6 red) and II (red), non-polymorphic
# (A and T in red, C and G in green), negative (dark), normalisation (A and T in red, C and G in green)
# and restoration (dark on arrays of fresh DNA). Counts are the 450k's, with 600 negative controls.
CONTROL_PROBES = (
    ControlProbe("STAINING", "Red", "DNP (High)", red=12_000),
    ControlProbe("STAINING", "Purple", "DNP (Bkg)"),
    ControlProbe("STAINING", "Green", "Biotin (High)", green=9_000),
    ControlProbe("STAINING", "Blue", "Biotin (Bkg)"),
    ControlProbe("EXTENSION", "Red", "Extension (A)", red=15_000),
    ControlProbe("EXTENSION", "Purple", "Extension (T)", red=14_000),
    ControlProbe("EXTENSION", "LimeGreen", "Extension (C)", green=16_000),
    ControlProbe("EXTENSION", "Lime", "Extension (G)", green=15_000),
    ControlProbe("HYBRIDIZATION", "Red", "Hyb (Low)", green=1_500),
    ControlProbe("HYBRIDIZATION", "Blue", "Hyb (Medium)", green=5_000),
    ControlProbe("HYBRIDIZATION", "Green", "Hyb (High)", green=15_000),
    ControlProbe("TARGET REMOVAL", "Green", "Target Removal 1"),
    ControlProbe("TARGET REMOVAL", "Blue", "Target Removal 2"),
    *_numbered("BISULFITE CONVERSION I", "Green", "BS Conversion I-C{}", range(1, 4), green=8_000),
    *_numbered("BISULFITE CONVERSION I", "Blue", "BS Conversion I-U{}", range(1, 4)),
    *_numbered("BISULFITE CONVERSION I", "Red", "BS Conversion I-C{}", range(4, 7), red=9_000),
    *_numbered("BISULFITE CONVERSION I", "Purple", "BS Conversion I-U{}", range(4, 7)),
    *_numbered("BISULFITE CONVERSION II", "Red", "BS Conversion II-{}", range(1, 5), red=9_000),
    *_numbered("SPECIFICITY I", "Green", "GT Mismatch {} (PM)", range(1, 4), green=9_000),
    *_numbered("SPECIFICITY I", "Blue", "GT Mismatch {} (MM)", range(1, 4)),
    *_numbered("SPECIFICITY I", "Red", "GT Mismatch {} (PM)", range(4, 7), red=8_000),
    *_numbered("SPECIFICITY I", "Purple", "GT Mismatch {} (MM)", range(4, 7)),
    *_numbered("SPECIFICITY II", "Red", "Specificity {}", range(1, 4), red=9_000),
    ControlProbe("NON-POLYMORPHIC", "Red", "NP (A)", red=11_000),
    ControlProbe("NON-POLYMORPHIC", "Purple", "NP (T)", red=10_000),
    ControlProbe("NON-POLYMORPHIC", "Green", "NP (C)", green=12_000),
    ControlProbe("NON-POLYMORPHIC", "Blue", "NP (G)", green=11_000),
    *_numbered("NEGATIVE", "Black", "Negative {}", range(1, 601)),
    # Normalisation controls: A and T are measured in red, C and G in green (what dye-bias correction uses).
    *_numbered("NORM_A", "Red", "Norm_A{}", range(1, 33), red=12_000),
    *_numbered("NORM_C", "Green", "Norm_C{}", range(1, 33), green=12_000),
    *_numbered("NORM_G", "Blue", "Norm_G{}", range(1, 33), green=12_000),
    *_numbered("NORM_T", "Purple", "Norm_T{}", range(1, 33), red=12_000),
    ControlProbe("RESTORATION", "Green", "Restore"),
)
STAINING_SIGNALS = ("DNP (High)", "Biotin (High)")
# An array that lost more than this share of its probes counts as failed (its staining controls too).
FAILED_ARRAY_SHARE = 0.1

# Real arrays hold more addresses than probes (controls and unused beads); about 1.2x on EPIC.
ARRAYS = {"demo": None, "450k": 485_512, "epic": 865_918}
TYPE_ONE_SHARE = 0.28
SNP_PROBES = 30

# Sex-chromosome probes in the EPIC manifest's shares (about 19,000 on chrX and 500 on chrY of
# 866,000), with enough on a small array for stable medians. Their IDs are synthetic, cg98... on chrX
# and cg99... on chrY: beyond real IDs (below cg3) and the cg90... padding of array_cpg_ids.
SEX_CHROMOSOME_SHARES = {"X": 19_000 / 866_000, "Y": 500 / 866_000}
MIN_SEX_CHROMOSOME_PROBES = {"X": 200, "Y": 50}
SEX_CHROMOSOME_ID_PREFIXES = {"X": "cg98", "Y": "cg99"}
# Copies of each sex chromosome per sex, against the two of an autosome: a probe's signal scales with them.
SEX_CHROMOSOME_COPIES = {"F": {"X": 2, "Y": 0}, "M": {"X": 1, "Y": 1}}
AUTOSOME_COPIES = 2
AUTOSOMES = [str(number) for number in range(1, 23)]
# Mixed into a study's seed for the per-probe dye bias, which has a generator of its own.
PROBE_DYE_SEED = 20_261_202


@dataclass(frozen=True)
class IntensityModel:
    background_mean: float = 400.0
    background_sd: float = 60.0
    signal_log_mean: float = np.log(9000.0)
    signal_log_sd: float = 0.5
    signal_noise: float = 0.01          # relative noise of a bead-averaged signal (~4% per bead over ~14 beads)
    sample_scale_sd: float = 0.1        # log-sd of an array's overall brightness
    probe_variation_sd: float = 0.05    # log-sd of a probe's brightness between arrays
    dye_bias_sd: float = 0.1            # per-sample log red/green ratio
    # Dye bias also varies by probe (sequence context), the same on every array: a per-sample
    # correction from the normalisation controls cannot remove it.
    probe_dye_bias_sd: float = 0.05
    bead_mean: float = 14.0
    failed_signal_fraction: float = 0.02  # what a failed probe keeps of its signal
    control_noise_sd: float = 0.1       # log-sd of a control's signal between arrays
    failed_staining_fraction: float = 0.05  # what the staining controls of a failed array keep of their signal


def sex_chromosome_probes(n_cpgs: int) -> pd.Series:
    """Chromosome ('X' or 'Y') of each sex-chromosome probe an array of ``n_cpgs`` autosomal CpGs has, by probe ID."""
    chromosomes = {}
    for chromosome, share in SEX_CHROMOSOME_SHARES.items():
        count = max(MIN_SEX_CHROMOSOME_PROBES[chromosome], round(share * n_cpgs))
        prefix = SEX_CHROMOSOME_ID_PREFIXES[chromosome]
        chromosomes.update({f"{prefix}{number:06d}": chromosome for number in range(count)})
    return pd.Series(chromosomes, name="chromosome", dtype=object).rename_axis("probe_id")


def synthetic_manifest(cpg_ids: list[str], seed: int = 7, sex_chromosomes: pd.Series | None = None
                       ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Probe table (IlmnID, AddressA_ID, AddressB_ID, Infinium_Design_Type, Color_Channel, CHR...) and controls.

    Probes in order: ``cpg_ids`` (on autosomes), the sex-chromosome probes ``sex_chromosomes``
    (probe ID -> 'X' or 'Y', from ``sex_chromosome_probes``; none by default), then the SNP probes.
    """
    rng = np.random.default_rng(seed)
    if sex_chromosomes is None:
        sex_chromosomes = pd.Series(dtype=object)
    snp_ids = [f"rs{1000000 + i}" for i in range(SNP_PROBES)]
    probe_ids = list(cpg_ids) + list(sex_chromosomes.index) + snp_ids
    n_probes = len(probe_ids)
    type_one = rng.random(n_probes) < TYPE_ONE_SHARE
    channel = np.where(type_one, np.where(rng.random(n_probes) < 0.5, "Red", "Grn"), "")
    n_controls = len(CONTROL_PROBES)
    n_addresses = n_probes + int(type_one.sum()) + n_controls
    # Addresses are unique 8-digit numbers, as on real arrays.
    addresses = rng.choice(np.arange(10_000_000, 99_999_999), size=n_addresses, replace=False)
    address_a = addresses[:n_probes]
    address_b = np.zeros(n_probes, dtype=np.int64)
    address_b[type_one] = addresses[n_probes:n_probes + int(type_one.sum())]
    # Drawn after the addresses, so that a probe list's addresses and designs stay what they were
    # before probes had chromosomes.
    chromosome = rng.choice(AUTOSOMES, size=n_probes).astype(object)
    chromosome[len(cpg_ids):len(cpg_ids) + len(sex_chromosomes)] = sex_chromosomes.to_numpy()
    probes = pd.DataFrame({
        "IlmnID": probe_ids, "Name": probe_ids, "AddressA_ID": address_a,
        "AddressB_ID": pd.array(np.where(type_one, address_b, 0), dtype="Int64").astype(object),
        "Infinium_Design_Type": np.where(type_one, "I", "II"),
        "Next_Base": np.where(type_one, np.where(channel == "Red", "A", "C"), ""),
        "Color_Channel": channel, "Genome_Build": "37", "CHR": chromosome, "MAPINFO": "",
    })
    probes.loc[~type_one, "AddressB_ID"] = ""
    controls = pd.DataFrame({
        "Address": addresses[n_probes + int(type_one.sum()):].astype(np.int64),
        "Type": [control.type for control in CONTROL_PROBES],
        "Color": [control.colour for control in CONTROL_PROBES],
        "Extended_Type": [control.extended_type for control in CONTROL_PROBES],
    })
    return probes, controls


def write_manifest(probes: pd.DataFrame, controls: pd.DataFrame, path: str | Path, name: str) -> None:
    """Illumina's CSV layout: [Heading], [Assay] with a header row, [Controls] without one (gzipped if .gz)."""
    lines = ["Illumina, Inc.", "[Heading]", f"Descriptor File Name,{name}.bpm", "Assay Format,Infinium HD Methylation",
             "Date Manufactured,synthetic", f"Loci Count ,{len(probes)}", "[Assay]"]
    text = "\n".join(lines) + "\n" + probes.to_csv(index=False) + "[Controls]\n" + controls.to_csv(index=False, header=False)
    with atomic_path(path) as temporary:
        if str(path).endswith(".gz"):
            with open(temporary, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as handle:
                handle.write(text.encode())
        else:
            temporary.write_text(text)


def sample_intensities(betas: np.ndarray, failed_probes: np.ndarray, affinity: np.ndarray, copy_number: np.ndarray,
                       probes: pd.DataFrame, controls: pd.DataFrame, addresses: np.ndarray, model: IntensityModel,
                       rng: np.random.Generator, probe_dye: np.ndarray | None = None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Red and green mean intensities and bead counts at every address, for one sample's true betas.

    copy_number: each probe's copies of its chromosome in this sample against an autosome's two
    (1 on autosomes; 0 leaves a probe at background). probe_dye: each probe's own red/green factor
    on top of the array's (1 when absent).
    """
    n = len(addresses)
    position = pd.Series(np.arange(n), index=addresses)
    red = rng.normal(model.background_mean, model.background_sd, n)
    green = rng.normal(model.background_mean, model.background_sd, n)
    dye_red = np.exp(rng.normal(0, model.dye_bias_sd))

    n_probes = len(probes)
    probe_red = dye_red * (np.ones(n_probes) if probe_dye is None else probe_dye)
    # A probe's brightness is mostly its own (affinity), shared by every array; arrays differ by an
    # overall scale and a little per-probe variation.
    signal = affinity * copy_number * np.exp(rng.normal(0, model.sample_scale_sd)
                                             + rng.normal(0, model.probe_variation_sd, n_probes))
    signal = np.where(failed_probes, signal * model.failed_signal_fraction, signal)
    methylated = betas * signal * (1 + rng.normal(0, model.signal_noise, n_probes))
    unmethylated = (1 - betas) * signal * (1 + rng.normal(0, model.signal_noise, n_probes))

    design = probes["Infinium_Design_Type"].to_numpy()
    channel = probes["Color_Channel"].to_numpy()
    a_rows = position.loc[probes["AddressA_ID"].to_numpy()].to_numpy()
    type_two = design == "II"
    # Type II: one bead type, methylated read in green, unmethylated in red.
    green[a_rows[type_two]] += methylated[type_two]
    red[a_rows[type_two]] += probe_red[type_two] * unmethylated[type_two]
    # Type I: unmethylated at address A, methylated at address B, both in the probe's channel.
    type_one = ~type_two
    b_rows = np.full(n_probes, -1)
    b_rows[type_one] = position.loc[probes.loc[type_one, "AddressB_ID"].astype(np.int64).to_numpy()].to_numpy()
    for colour, target, scale in (("Red", red, probe_red), ("Grn", green, np.ones(n_probes))):
        rows = type_one & (channel == colour)
        target[a_rows[rows]] += scale[rows] * unmethylated[rows]
        target[b_rows[rows]] += scale[rows] * methylated[rows]
    # Controls: the signal each has on a good array, in its channel(s), on top of the background.
    control_rows = position.loc[controls["Address"].to_numpy()].to_numpy()
    control_red, control_green = control_signals(controls["Extended_Type"].to_numpy(),
                                                 failed_array=failed_probes.mean() > FAILED_ARRAY_SHARE, model=model)
    variation = np.exp(rng.normal(0, model.control_noise_sd, len(controls)))
    red[control_rows] += dye_red * control_red * variation
    green[control_rows] += control_green * variation

    beads_red = rng.poisson(model.bead_mean, n)
    beads_green = beads_red.copy()
    return (np.clip(red, 1, 65_535), np.clip(green, 1, 65_535), beads_red, beads_green)


def control_signals(extended_types: np.ndarray, failed_array: bool, model: IntensityModel
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Red and green signal above background of each control (by Extended_Type) on one array."""
    by_name = {control.extended_type: control for control in CONTROL_PROBES}
    unknown = sorted(set(extended_types) - set(by_name))
    if unknown:
        raise EpiclockError(f"simulate: no simulated signal for control probe(s) {', '.join(unknown[:5])}")
    red = np.array([by_name[name].red for name in extended_types], dtype=np.float64)
    green = np.array([by_name[name].green for name in extended_types], dtype=np.float64)
    if failed_array:
        staining = np.isin(extended_types, STAINING_SIGNALS)
        red[staining] *= model.failed_staining_fraction
        green[staining] *= model.failed_staining_fraction
    return red, green


def relative_copy_number(chromosomes: pd.Series, sex: str) -> np.ndarray:
    """Copies of each sex-chromosome probe's chromosome (``chromosomes``: 'X' or 'Y') in a donor of
    ``sex`` (F or M), against the two copies of an autosome."""
    if sex not in SEX_CHROMOSOME_COPIES:
        raise EpiclockError(f"simulate: sex must be F or M to simulate an array (got {sex!r})")
    copies = SEX_CHROMOSOME_COPIES[sex]
    return np.array([copies[chromosome] for chromosome in chromosomes], dtype=np.float64) / AUTOSOME_COPIES


def _idat(addresses: np.ndarray, means: np.ndarray, beads: np.ndarray, barcode: str, chip_type: str) -> Idat:
    means16 = np.round(means).astype(np.uint16)
    return Idat(addresses=addresses.astype(np.int32), means=means16,
                sds=np.round(means * 0.1).clip(0, 65_535).astype(np.uint16),
                bead_counts=np.clip(beads, 0, 255).astype(np.uint8),
                strings={BARCODE: barcode, CHIP_TYPE: chip_type})


def write_idats(betas: pd.DataFrame, samples: pd.DataFrame, failed: dict[str, np.ndarray], out_dir: str | Path,
                seed: int = 1, model: IntensityModel | None = None, genotypes: pd.DataFrame | None = None
                ) -> dict[str, Path]:
    """A manifest and one Red/Grn IDAT pair per sample under ``out_dir/idats/<chip>/``.

    betas: CpG x sample true betas (NaN allowed: those probes are drawn as failed);
    samples: the sample sheet with ``chip`` and ``position``, and ``sex`` (F or M) for the array to
    carry chrX and chrY probes (without it there are none, and the arrays' sex is unknown);
    failed: sample -> failed-probe mask.
    genotypes: rs probe x sample betas (0, 0.5, 1); by default one random genotype per donor.
    """
    model = model or IntensityModel()
    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    has_sex = "sex" in samples.columns
    sex_chromosomes = sex_chromosome_probes(len(betas)) if has_sex else pd.Series(dtype=object)
    probes, controls = synthetic_manifest(list(betas.index), seed=seed, sex_chromosomes=sex_chromosomes)
    manifest_path = out_dir / "manifest.csv.gz"
    write_manifest(probes, controls, manifest_path, name="EpiclockSyntheticMethylation")
    snp_ids = probes["IlmnID"].to_numpy()[len(betas) + len(sex_chromosomes):]
    if genotypes is None:
        donors = samples["donor"].unique()
        per_donor = pd.DataFrame(rng.choice([0.03, 0.5, 0.97], size=(len(snp_ids), len(donors))),
                                 index=snp_ids, columns=donors)
        genotypes = per_donor[samples["donor"].to_numpy()]
        genotypes.columns = samples["sample_id"].to_numpy()
    if has_sex:
        sex_betas = synthetic_betas(sex_chromosomes.index, samples["sample_id"].to_numpy(), rng)
    addresses = np.sort(np.concatenate([
        probes["AddressA_ID"].to_numpy(dtype=np.int64),
        probes.loc[probes["Infinium_Design_Type"] == "I", "AddressB_ID"].astype(np.int64).to_numpy(),
        controls["Address"].to_numpy(dtype=np.int64)]))
    chip_type = "BeadChip 8x1 (epiclock synthetic)"
    affinity = np.exp(rng.normal(model.signal_log_mean, model.signal_log_sd, len(probes)))
    # From a generator of its own, so that every other draw of a seed is what it was before.
    probe_dye = np.exp(np.random.default_rng([seed, PROBE_DYE_SEED]).normal(0, model.probe_dye_bias_sd, len(probes)))
    for row in samples.itertuples():
        sex_chromosome_betas = sex_betas[row.sample_id].to_numpy() if has_sex else np.empty(0)
        true_betas = np.concatenate([betas[row.sample_id].to_numpy(), sex_chromosome_betas,
                                     genotypes[row.sample_id].to_numpy()])
        # Failures are drawn for the study's CpGs only; sex-chromosome and SNP probes keep their signal.
        failed_probes = np.isnan(true_betas) | np.concatenate([
            failed.get(row.sample_id, np.zeros(len(betas), bool)), np.zeros(len(sex_chromosomes) + len(snp_ids), bool)])
        copy_number = np.concatenate([np.ones(len(betas)),
                                      relative_copy_number(sex_chromosomes, row.sex) if has_sex else np.empty(0),
                                      np.ones(len(snp_ids))])
        red, green, beads_red, beads_green = sample_intensities(
            np.nan_to_num(true_betas, nan=0.5), failed_probes, affinity, copy_number, probes, controls, addresses,
            model, rng, probe_dye)
        basename = out_dir / "idats" / str(row.chip) / f"{row.chip}_{row.position}"
        write_idat(_idat(addresses, red, beads_red, str(row.chip), chip_type), f"{basename}_Red.idat.gz")
        write_idat(_idat(addresses, green, beads_green, str(row.chip), chip_type), f"{basename}_Grn.idat.gz")
    return {"manifest": manifest_path, "idat_dir": out_dir / "idats"}


def array_cpg_ids(array: str, study_cpgs: pd.Index, seed: int = 1) -> pd.Index:
    """The CpGs of a simulated array: the study's own, or padded to a real array's probe count.

    A real array's count is reached with the reference's CpG IDs first, then synthetic IDs
    (cg9xxxxxxx, marked as such by their range) where the 450k reference has no more.
    """
    if array not in ARRAYS:
        raise EpiclockError(f"simulate: unknown array {array!r}; choose one of {', '.join(ARRAYS)}")
    target = ARRAYS[array]
    if target is None:
        return study_cpgs
    reference = data.reference_medians().index
    extra = reference.difference(study_cpgs)
    extra = extra[extra.str.startswith("cg")]
    rng = np.random.default_rng(seed)
    chosen = list(rng.permutation(extra.to_numpy())[: max(0, target - len(study_cpgs))])
    synthetic = [f"cg9{i:07d}" for i in range(max(0, target - len(study_cpgs) - len(chosen)))]
    return pd.Index(sorted(set(study_cpgs) | set(chosen) | set(synthetic)), name="cpg_id")


def pad_betas(betas: pd.DataFrame, cpg_ids: pd.Index, seed: int = 1) -> pd.DataFrame:
    """True betas for the CpGs an array adds beyond the study's: reference medians with sample noise."""
    extra = cpg_ids.difference(betas.index)
    if len(extra) == 0:
        return betas
    rng = np.random.default_rng(seed)
    medians = data.reference_medians().reindex(extra).to_numpy(copy=True)
    missing = np.isnan(medians)
    medians[missing] = bimodal_medians(int(missing.sum()), rng)
    values = _with_sample_noise(medians, betas.shape[1], rng)
    padded = pd.concat([betas, pd.DataFrame(values, index=extra, columns=betas.columns)])
    return padded.loc[cpg_ids]


def bimodal_medians(n_cpgs: int, rng: np.random.Generator) -> np.ndarray:
    """Median betas of synthetic CpGs: half mostly unmethylated, half mostly methylated, like the reference's."""
    return np.where(rng.random(n_cpgs) < 0.5, rng.beta(1, 12, n_cpgs), rng.beta(12, 1, n_cpgs))


def _with_sample_noise(medians: np.ndarray, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """CpG x sample betas scattered around ``medians`` on the M-value scale."""
    logit = np.log(np.clip(medians, 0.02, 0.98) / (1 - np.clip(medians, 0.02, 0.98)))
    return 1 / (1 + np.exp(-(logit[:, None] + rng.normal(0, 0.2, (len(medians), n_samples)))))


def synthetic_betas(cpg_ids: pd.Index, sample_ids: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """True betas of synthetic CpGs in each sample: a bimodal profile, with sample noise."""
    values = _with_sample_noise(bimodal_medians(len(cpg_ids), rng), len(sample_ids), rng)
    return pd.DataFrame(values, index=cpg_ids, columns=sample_ids)
