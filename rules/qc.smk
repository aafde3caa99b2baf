rule sample_qc:
    input:
        matrix="results/import/betas.parquet",
        samples=config["samples"],
        array_qc=array_qc_input(),
    output:
        table_tsv=report(
            "results/qc/samples.tsv",
            caption="../report/tables.rst",
            category="Tables",
            subcategory="QC",
        ),
        table_parquet="results/qc/samples.parquet",
    params:
        qc=config["qc"],
    log:
        "logs/qc/samples.log",
    threads: 1
    resources:
        mem_mb=matrix_mem_mb,
        runtime=30,
    conda:
        "../envs/epiclock.yaml"
    script:
        "../scripts/sample_qc.py"
