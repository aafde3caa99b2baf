rule predict_clocks:
    input:
        matrix="results/normalize/betas.parquet",
    output:
        predictions_tsv=report(
            "results/clocks/predictions.tsv",
            caption="../report/tables.rst",
            category="Tables",
            subcategory="Clocks",
        ),
        predictions_parquet="results/clocks/predictions.parquet",
    params:
        clocks=config["clocks"],
    log:
        "logs/clocks/predictions.log",
    threads: 1
    resources:
        mem_mb=matrix_mem_mb,
        runtime=30,
    conda:
        "../envs/epiclock.yaml"
    script:
        "../scripts/predict_clocks.py"
