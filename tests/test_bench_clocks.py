"""bench/clocks.py's breakdown: every shipped clock falls in one family, and each family's reference
operation runs on the models as they are (so the benchmark cannot rot when a model changes)."""

import numpy as np
import pandas as pd

from conftest import bench_script
from epiclock.clocks import registry


def test_every_clock_has_a_family_and_the_reference_operations_run():
    clocks_bench = bench_script("clocks")
    shipped = [registry.get(name) for name in registry.available()]
    members = {}
    for clock in shipped:
        members.setdefault(clocks_bench.family(clock), []).append(clock)
    assert sum(len(clocks) for clocks in members.values()) == len(shipped)
    assert len(members["GP-age (6 models)"]) == 6 and len(members["AltumAge"]) == 1
    assert len(members["linear on betas"]) > 50

    needed = set().union(*(clock.cpg_ids for clock in shipped))
    needed |= set(members["DunedinPACE (quantile normalisation)"][0].preprocessing.target.index)
    cpg_ids = sorted(needed)
    rng = np.random.default_rng(0)
    betas = pd.DataFrame(rng.uniform(0.02, 0.98, (len(cpg_ids), 3)), index=pd.Index(cpg_ids, name="cpg_id"),
                         columns=["S1", "S2", "S3"])
    operations = clocks_bench.reference_operations(betas, members, 1, rng)
    assert set(operations) == set(members) - {"MiAge", "stemTOC (per-sample quantile)"}
    assert all(seconds > 0 for _, seconds in operations.values())
