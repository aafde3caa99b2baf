# Import: a beta matrix (plain, or a GEO series matrix or signal table) as it is, or IDAT pairs
# preprocessed per sample in batches of samples.

if MATRIX_INPUT:

    rule import_betas:
        input:
            betas=config["input"]["betas"],
        output:
            matrix="results/import/betas.parquet",
        params:
            kind=INPUT_TYPE,
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

else:

    rule preprocess_batch:
        input:
            idats=batch_idat_files,
            probes="resources/manifests/parsed/probes.parquet",
            controls="resources/manifests/parsed/controls.parquet",
        output:
            betas="results/preprocess/{batch}.betas.parquet",
            array_qc="results/preprocess/{batch}.array_qc.parquet",
        params:
            basenames=lambda wildcards: {sample: IDAT_BASENAMES[sample] for sample in BATCHES[wildcards.batch]},
            settings=config["preprocess"],
        log:
            "logs/preprocess/{batch}.log",
        threads: 1
        resources:
            mem_mb=lambda wildcards, input, attempt: max(2000, int(3 * input.size_mb) + 1500) * attempt,
            runtime=lambda wildcards: 10 + len(BATCHES[wildcards.batch]),
        conda:
            "../envs/epiclock.yaml"
        script:
            "../scripts/preprocess_batch.py"

    rule gather_batches:
        input:
            betas=expand("results/preprocess/{batch}.betas.parquet", batch=BATCHES),
            array_qc=expand("results/preprocess/{batch}.array_qc.parquet", batch=BATCHES),
        output:
            matrix="results/import/betas.parquet",
            array_qc="results/import/array_qc.parquet",
        params:
            missing=MISSING_IDATS,
        log:
            "logs/import/gather.log",
        threads: 1
        resources:
            mem_mb=lambda wildcards, input, attempt: max(2000, int(4 * input.size_mb) + 1000) * attempt,
            runtime=30,
        conda:
            "../envs/epiclock.yaml"
        script:
            "../scripts/gather_batches.py"
