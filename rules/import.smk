rule import_betas:
    input:
        betas=config["input"]["betas"],
    output:
        matrix="results/import/betas.parquet",
    log:
        "logs/import/betas.log",
    threads: 1
    resources:
        mem_mb=lambda wildcards, input, attempt: max(1000, int(20 * input.size_mb) + 500) * attempt,
        runtime=30,
    conda:
        "../envs/epiclock.yaml"
    script:
        "../scripts/import_betas.py"
