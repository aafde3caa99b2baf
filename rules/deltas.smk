# Deltas and contrasts, when the config has a design (a clock-only run stops at the ages).
if HAS_DESIGN:

    rule compute_deltas:
        input:
            predictions="results/clocks/predictions.parquet",
            samples=config["samples"],
            # The cell fractions, when contrasts are also adjusted for them.
            **({"composition": "results/qc/composition.parquet"} if config["deltas"]["adjust_for"] else {}),
        output:
            per_sample_tsv="results/deltas/per_sample.tsv",
            per_sample_parquet="results/deltas/per_sample.parquet",
            per_condition_tsv=report(
                "results/deltas/per_condition.tsv",
                caption="../report/tables.rst",
                category="Tables",
                subcategory="Deltas",
            ),
            per_condition_parquet="results/deltas/per_condition.parquet",
            contrasts_tsv=report(
                "results/deltas/contrasts.tsv",
                caption="../report/tables.rst",
                category="Tables",
                subcategory="Deltas",
            ),
            contrasts_parquet="results/deltas/contrasts.parquet",
        params:
            design=config["design"],
            contrasts=config["contrasts"],
            adjust_for=config["deltas"]["adjust_for"],
        log:
            "logs/deltas/deltas.log",
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        conda:
            "../envs/epiclock.yaml"
        script:
            "../scripts/compute_deltas.py"
