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
            caption="../report/qc_samples.rst",
            category="Tables",
            subcategory="QC",
        ),
        table_parquet="results/qc/samples.parquet",
        controls_tsv=report(
            "results/qc/controls.tsv", caption="../report/qc_controls.rst", category="Tables", subcategory="QC"
        ),
        controls_parquet="results/qc/controls.parquet",
        identity_tsv=report(
            "results/qc/identity.tsv", caption="../report/qc_identity.rst", category="Tables", subcategory="QC"
        ),
        identity_parquet="results/qc/identity.parquet",
        density="results/qc/beta_density.parquet",
    log:
        **job_log("sample_qc"),
    benchmark:
        job_benchmark("sample_qc")
    conda:
        "../envs/epiclock.yaml"
    threads: 1
    resources:
        # Small per-sample tables only (the betas stay in their batches), but genotype concordance compares
        # every pair of samples: a few sample x sample matrices of 8-byte values.
        mem_mb=lambda wildcards, input, attempt: (
            max(1000, int(10 * input.size_mb) + 500) + 4 * 8 * len(samples) ** 2 // 10**6
        )
        * attempt,
        runtime=30,
    params:
        qc=config["qc"],
        design=config.get("design"),
        missing=MISSING_IDATS,
    script:
        "../scripts/sample_qc.py"
