# The betas of the samples that passed QC as one matrix, for users' own analyses. Normalisation of
# IDATs (noob, dye bias, BMIQ) happens per sample in preprocess_batch; the clocks read the batches.


rule merge_betas:
    input:
        batches=batch_tables("betas"),
        qc_table="results/qc/samples.parquet",
    output:
        **({"m_values": "results/normalize/m_values.parquet"} if config["normalize"]["m_values"] else {}),
        betas="results/normalize/betas.parquet",
    log:
        **job_log("merge_betas"),
    benchmark:
        job_benchmark("merge_betas")
    conda:
        "../envs/epiclock.yaml"
    threads: 1
    resources:
        # One block of CpGs (workflow.MATRIX_ROW_GROUP) of every sample at a time.
        mem_mb=lambda wildcards, attempt: (1000 + 2 * len(samples)) * attempt,
        runtime=lambda wildcards: 10 + len(samples) // 20,
    params:
        method=config["normalize"]["method"],
        fail_fast=config["qc"]["fail_fast"],
    script:
        "../scripts/merge_betas.py"
