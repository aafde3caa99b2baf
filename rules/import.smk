# Import: a beta matrix (plain, or a GEO series matrix or signal table) as one batch, or IDAT pairs
# preprocessed per sample in batches of samples. Either way every batch leaves the same tables
# (batch_outputs), so QC and the clocks read the two routes alike.


# Written once, before the first step writes into results/; `ancient`, so that its date never makes
# the steps that wait for it run again.
rule record_study:
    output:
        STUDY_RECORD,
    log:
        **job_log("record_study"),
    benchmark:
        job_benchmark("record_study")
    localrule: True
    conda:
        "../envs/epiclock.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        identity=epiclock_plan.study_identity(PLAN.settings),
    script:
        "../scripts/record_study.py"


if MATRIX_INPUT:

    rule import_betas:
        input:
            betas=config["input"]["betas"],
            study=ancient(STUDY_RECORD),
        output:
            **batch_outputs(MATRIX_BATCH),
        log:
            **job_log("import_betas"),
        benchmark:
            job_benchmark("import_betas")
        conda:
            "../envs/epiclock.yaml"
        threads: 1
        resources:
            mem_mb=lambda wildcards, input, attempt: max(1000, int(20 * input.size_mb) + 500) * attempt,
            runtime=30,
        params:
            kind=INPUT_TYPE,
        script:
            "../scripts/import_betas.py"

else:

    rule preprocess_batch:
        input:
            idats=batch_idat_files,
            probes=parsed_manifests("probes"),
            controls=parsed_manifests("controls"),
            mask_file=mask_file(),
            study=ancient(STUDY_RECORD),
        output:
            **batch_outputs(),
        log:
            **job_log("preprocess_batch", "{batch}"),
        benchmark:
            job_benchmark("preprocess_batch", "{batch}")
        conda:
            "../envs/epiclock.yaml"
        threads: 1
        resources:
            # The manifest and one sample's intensities (about 1 GB at EPIC size), plus the batch's matrices:
            # betas and two raw signals, 4 bytes per probe and sample (about 3.5 MB each per EPIC sample).
            mem_mb=lambda wildcards, attempt: (1200 + 12 * len(BATCHES[wildcards.batch])) * attempt,
            runtime=lambda wildcards: 10 + len(BATCHES[wildcards.batch]),
        params:
            manifests=[manifest_file(name) for name in MANIFESTS],
            basenames=lambda wildcards: {sample: IDAT_BASENAMES[sample] for sample in BATCHES[wildcards.batch]},
            settings=config["preprocess"],
        script:
            "../scripts/preprocess_batch.py"
