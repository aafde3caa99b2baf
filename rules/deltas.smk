# Deltas and contrasts, when the config has a design (a clock-only run stops at the ages).
if HAS_DESIGN:

    rule compute_deltas:
        input:
            # The cell fractions, when contrasts are also adjusted for them.
            **({"composition": "results/qc/composition.parquet"} if config["deltas"]["adjust_for"] else {}),
            predictions="results/clocks/predictions.parquet",
            samples=config["samples"],
        output:
            per_sample_tsv=report(
                "results/deltas/per_sample.tsv",
                caption="../report/deltas_per_sample.rst",
                category="Tables",
                subcategory="Deltas",
            ),
            per_sample_parquet="results/deltas/per_sample.parquet",
            per_condition_tsv=report(
                "results/deltas/per_condition.tsv",
                caption="../report/deltas_per_condition.rst",
                category="Tables",
                subcategory="Deltas",
            ),
            per_condition_parquet="results/deltas/per_condition.parquet",
            contrasts_tsv=report(
                "results/deltas/contrasts.tsv",
                caption="../report/deltas_contrasts.rst",
                category="Tables",
                subcategory="Deltas",
            ),
            contrasts_parquet="results/deltas/contrasts.parquet",
        log:
            **job_log("compute_deltas"),
        benchmark:
            job_benchmark("compute_deltas")
        conda:
            "../envs/epiclock.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        params:
            design=config["design"],
            contrasts=config["contrasts"],
            adjust_for=config["deltas"]["adjust_for"],
        script:
            "../scripts/compute_deltas.py"
