"""A cell mix planted into simulated betas: the estimators recover it, and it moves the clocks."""

import numpy as np
import pandas as pd
import pytest

from epiclock import composition
from epiclock.demo import composition as simulate_composition
from epiclock.errors import EpiclockError


def _sheet(donors=4, replicates=3, conditions=("control", "treated")) -> pd.DataFrame:
    rows = [{"sample_id": f"D{d}_{c}_{r}", "donor": f"D{d}", "condition": c}
            for d in range(donors) for c in conditions for r in range(replicates)]
    return pd.DataFrame(rows)


def test_planted_fractions_are_a_mix_and_shift_with_the_condition():
    sheet = _sheet(donors=8)
    parameters = simulate_composition.CompositionParameters(fibroblast_shift={"treated": -0.1})
    fractions = simulate_composition.planted_fractions(sheet, parameters, seed=3)
    assert list(fractions.columns) == ["Epi", "Fib", "IC"]
    np.testing.assert_allclose(fractions.sum(axis=1), 1.0, atol=1e-12)
    assert (fractions.to_numpy() >= 0).all()
    by_condition = fractions.groupby(sheet.set_index("sample_id")["condition"])["Fib"].mean()
    # mean shift -0.1, donors responding with CV 0.5 and 8 donors: within 0.05 of the planted shift
    assert by_condition["treated"] - by_condition["control"] == pytest.approx(-0.1, abs=0.05)


def test_estimates_recover_the_planted_mix_and_the_clocks_move():
    sheet = _sheet()
    parameters = simulate_composition.CompositionParameters(fibroblast_shift={"treated": -0.1})
    cpgs = pd.Index([f"cgX{i:05d}" for i in range(300)], name="cpg_id")
    rng = np.random.default_rng(0)
    betas = pd.DataFrame(rng.uniform(0.2, 0.8, (len(cpgs), len(sheet))), index=cpgs, columns=sheet["sample_id"])
    betas.iloc[:10, 0] = np.nan  # a failed array stays failed
    planted_betas, fractions = simulate_composition.plant(betas, sheet, parameters, seed=5, floor=0.005, ceiling=0.995)
    reference = composition.load(parameters.reference)
    assert planted_betas.index.is_monotonic_increasing and set(reference.index) <= set(planted_betas.index)
    assert planted_betas.loc[cpgs].iloc[:10, 0].isna().all()
    estimated, _ = composition.estimate(planted_betas, reference, "rpc")
    # measurement noise SD 0.02 on 716 CpGs: fractions within 0.01 on average
    assert np.abs(estimated.to_numpy() - fractions.loc[estimated.index].to_numpy()).mean() < 0.01
    # Non-reference CpGs move by the cell types' deviations times the change of mix, nothing else.
    deviations = simulate_composition.cell_type_deviations(cpgs, parameters)
    baseline = np.array([parameters.baseline[c] for c in fractions.columns])
    expected = betas.to_numpy() + deviations.to_numpy() @ (fractions.loc[betas.columns].to_numpy() - baseline).T
    measured = ~np.isnan(betas.to_numpy())
    np.testing.assert_allclose(planted_betas.loc[cpgs].to_numpy()[measured],
                               np.clip(expected, 0.005, 0.995)[measured], rtol=0, atol=1e-12)


def test_a_reference_without_fibroblasts_is_refused():
    parameters = simulate_composition.CompositionParameters(reference="reinius2012_blood6_450k")
    with pytest.raises(EpiclockError, match="has no Fib and Epi columns"):
        parameters.validate(["control"])
    with pytest.raises(EpiclockError, match="unknown conditions in fibroblast_shift: nope"):
        simulate_composition.CompositionParameters(fibroblast_shift={"nope": 0.1}).validate(["control"])


def test_a_simulated_study_with_a_mix_keeps_its_truth_exact():
    """With a planted fibroblast loss, the truth's ages are still what the clocks read (to 1e-8),
    the part due to composition is recorded, and the planted fractions are kept."""
    from epiclock.clocks import predict, registry
    from epiclock.demo import simulate

    parameters = simulate.StudyParameters(donors=3, replicates=2, seed=4, background_cpgs=200, composition=(
        simulate_composition.CompositionParameters(fibroblast_shift={"skin_bm": -0.1})))
    study = simulate.simulate_study(parameters)
    good = study.truth.loc[~study.truth["simulated_failure"]]
    predicted = predict.predict(study.betas, registry.resolve(registry.for_simulation()), imputation="none", min_coverage=1.0)
    merged = good.merge(predicted, on=["sample_id", "clock"])
    assert len(merged) == len(good)
    assert np.abs(merged["dnam_age"] - merged["true_dnam_age"]).max() < 1e-8
    assert study.truth["composition_artefact_years"].abs().max() > 0.1
    assert list(study.fractions.columns) == ["Epi", "Fib", "IC"]
    by_condition = study.fractions.groupby(study.samples.set_index("sample_id")["condition"])["Fib"].mean()
    assert by_condition["skin_bm"] < by_condition["skin_alone"] - 0.03
