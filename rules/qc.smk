rule sample_qc:
    input:
        samples_tables=batch_tables("samples"),
        controls_tables=batch_tables("controls"),
        snps_tables=batch_tables("snps"),
        density_tables=batch_tables("density"),
        sheet=config["samples"],
    output:
        table_tsv=report(
            "results/qc/samples.tsv",
            caption="../report/tables.rst",
            category="Tables",
            subcategory="QC",
        ),
        table_parquet="results/qc/samples.parquet",
        controls_tsv="results/qc/controls.tsv",
        controls_parquet="results/qc/controls.parquet",
        identity_tsv="results/qc/identity.tsv",
        identity_parquet="results/qc/identity.parquet",
        density="results/qc/beta_density.parquet",
    params:
        qc=config["qc"],
        design=config.get("design"),
        missing=MISSING_IDATS,
    log:
        "logs/qc/samples.log",
    threads: 1
    resources:
        # Small per-sample tables only (the betas stay in their batches), but genotype concordance compares
        # every pair of samples: a few sample x sample matrices of 8-byte values.
        mem_mb=lambda wildcards, input, attempt: (
            max(1000, int(10 * input.size_mb) + 500) + 4 * 8 * len(samples) ** 2 // 10**6
        ) * attempt,
        runtime=30,
    conda:
        "../envs/epiclock.yaml"
    script:
        "../scripts/sample_qc.py"
