rule normalize_betas:
    input:
        matrix="results/import/betas.parquet",
        qc_table="results/qc/samples.parquet",
    output:
        normalized="results/normalize/betas.parquet",
    params:
        method=config["normalize"]["method"],
        fail_fast=config["qc"]["fail_fast"],
    log:
        "logs/normalize/betas.log",
    threads: 1
    resources:
        mem_mb=matrix_mem_mb,
        runtime=30,
    conda:
        "../envs/epiclock.yaml"
    script:
        "../scripts/normalize_betas.py"
