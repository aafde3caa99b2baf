rule provenance:
    input:
        **input_files(),
    output:
        "results/provenance.json",
    params:
        config=config,
    log:
        "logs/report/provenance.log",
    threads: 1
    resources:
        mem_mb=500,
        runtime=10,
    conda:
        "../envs/epiclock.yaml"
    script:
        "../scripts/write_provenance.py"


rule report:
    input:
        qc_table="results/qc/samples.parquet",
        predictions="results/clocks/predictions.parquet",
        per_sample="results/deltas/per_sample.parquet",
        per_condition="results/deltas/per_condition.parquet",
        contrasts="results/deltas/contrasts.parquet",
        provenance="results/provenance.json",
    output:
        "results/report.html",
    params:
        config=config,
    log:
        "logs/report/report.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/epiclock.yaml"
    script:
        "../scripts/write_report.py"
