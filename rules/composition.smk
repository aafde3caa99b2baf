# Cell-type fractions per sample from published reference profiles (composition.references), and per
# contrast whether each fraction differs between the two sides (the clocks' donor-level paired test).


rule estimate_composition:
    input:
        matrices=batch_tables("betas"),
        qc_table="results/qc/samples.parquet",
        samples=config["samples"],
    output:
        fractions_tsv=report(
            "results/qc/composition.tsv",
            caption="../report/composition_fractions.rst",
            category="Tables",
            subcategory="Composition",
        ),
        fractions_parquet="results/qc/composition.parquet",
        contrasts_tsv=report(
            "results/qc/composition_contrasts.tsv",
            caption="../report/composition_contrasts.rst",
            category="Tables",
            subcategory="Composition",
        ),
        contrasts_parquet="results/qc/composition_contrasts.parquet",
    log:
        **job_log("estimate_composition"),
    benchmark:
        job_benchmark("estimate_composition")
    conda:
        "../envs/epiclock.yaml"
    threads: 1
    resources:
        # Only the references' rows of each batch are read.
        mem_mb=lambda wildcards, attempt: (1000 + len(samples)) * attempt,
        runtime=10,
    params:
        settings=config["composition"],
        design=config.get("design"),
        contrasts=config["contrasts"],
    script:
        "../scripts/estimate_composition.py"
