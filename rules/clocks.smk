rule train_clock:
    input:
        betas=lambda wildcards: CUSTOM_CLOCKS[wildcards.name]["betas"],
        ages=lambda wildcards: CUSTOM_CLOCKS[wildcards.name]["ages"],
        study=ancient(STUDY_RECORD),
    output:
        coefficients="results/training/{name}/coefficients.tsv",
        definition="results/training/{name}/clock.yaml",
        imputation_reference="results/training/{name}/imputation_reference.tsv",
        card="results/training/{name}/model_card.json",
        cv_predictions="results/training/{name}/cv_predictions.tsv",
    log:
        **job_log("train_clock", "{name}"),
    benchmark:
        job_benchmark("train_clock", "{name}")
    conda:
        "../envs/epiclock.yaml"
    threads: 2
    resources:
        mem_mb=lambda wildcards, input, attempt: max(2000, int(30 * input.size_mb) + 1000) * attempt,
        runtime=120,
    params:
        settings=lambda wildcards: CUSTOM_CLOCKS[wildcards.name],
    script:
        "../scripts/train_clock.py"


rule predict_batch_clocks:
    input:
        matrix="results/preprocess/{batch}.betas.parquet",
        custom=custom_clock_files("clock.yaml"),
        samples=config["samples"],
    output:
        predictions="results/clocks/batches/{batch}.parquet",
        details="results/clocks/batches/{batch}.details.parquet",
    log:
        **job_log("predict_batch_clocks", "{batch}"),
    benchmark:
        job_benchmark("predict_batch_clocks", "{batch}")
    conda:
        "../envs/epiclock.yaml"
    threads: 1
    resources:
        mem_mb=matrix_mem_mb,
        runtime=30,
    params:
        clocks=config["clocks"],
        custom_dirs=custom_clock_dirs(),
        age_column=config.get("design", {}).get("donor_age_column", "donor_age"),
        sex_column=config["qc"]["sex_column"],
    script:
        "../scripts/predict_batch_clocks.py"


rule predict_clocks:
    input:
        batches=expand("results/clocks/batches/{batch}.parquet", batch=BATCHES),
        details=expand("results/clocks/batches/{batch}.details.parquet", batch=BATCHES),
        qc_table="results/qc/samples.parquet",
    output:
        predictions_tsv=report(
            "results/clocks/predictions.tsv",
            caption="../report/clocks_predictions.rst",
            category="Tables",
            subcategory="Clocks",
        ),
        predictions_parquet="results/clocks/predictions.parquet",
        coverage_tsv=report(
            "results/clocks/coverage.tsv",
            caption="../report/clocks_coverage.rst",
            category="Tables",
            subcategory="Clocks",
        ),
        coverage_parquet="results/clocks/coverage.parquet",
        details_tsv=report(
            "results/clocks/details.tsv",
            caption="../report/clocks_details.rst",
            category="Tables",
            subcategory="Clocks",
        ),
        details_parquet="results/clocks/details.parquet",
    log:
        **job_log("predict_clocks"),
    benchmark:
        job_benchmark("predict_clocks")
    conda:
        "../envs/epiclock.yaml"
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: (1000 + len(samples)) * attempt,
        runtime=10,
    params:
        names=config["clocks"]["names"],
        fail_fast=config["qc"]["fail_fast"],
    script:
        "../scripts/predict_clocks.py"
