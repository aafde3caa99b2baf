rule compute_deltas:
    input:
        predictions="results/clocks/predictions.parquet",
        samples=config["samples"],
    output:
        per_sample_tsv="results/deltas/per_sample.tsv",
        per_sample_parquet="results/deltas/per_sample.parquet",
        per_condition_tsv="results/deltas/per_condition.tsv",
        per_condition_parquet="results/deltas/per_condition.parquet",
        contrasts_tsv="results/deltas/contrasts.tsv",
        contrasts_parquet="results/deltas/contrasts.parquet",
    params:
        design=config["design"],
        contrasts=config["contrasts"],
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
