rule write_provenance:
    input:
        **input_files(),
        # From IDATs: what `auto` preprocessing became for the run's manifests, as the batches resolved it.
        **({} if MATRIX_INPUT else {"manifest_controls": parsed_manifests("controls")}),
        study=ancient(STUDY_RECORD),
    output:
        "results/provenance.json",
    log:
        **job_log("write_provenance"),
    benchmark:
        job_benchmark("write_provenance")
    conda:
        "../envs/epiclock.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=10,
    params:
        config=config,
        manifests=[] if MATRIX_INPUT else [manifest_file(name) for name in MANIFESTS],
    script:
        "../scripts/write_provenance.py"


QC_TABLES = {
    "qc_table": "results/qc/samples.parquet",
    "controls": "results/qc/controls.parquet",
    "density": "results/qc/beta_density.parquet",
    "identity": "results/qc/identity.parquet",
    "composition": "results/qc/composition.parquet",
    "composition_contrasts": "results/qc/composition_contrasts.parquet",
}


rule write_figures:
    input:
        **QC_TABLES,
        **DELTA_TABLES,
        custom_cv=custom_clock_files("cv_predictions.tsv"),
        custom_definitions=custom_clock_files("clock.yaml"),
    output:
        figure_dir=report(
            directory("results/figures"),
            patterns=["{name}.svg"],
            caption="../report/figures.rst",
            category="Figures",
        ),
    log:
        **job_log("write_figures"),
    benchmark:
        job_benchmark("write_figures")
    conda:
        "../envs/epiclock.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        config=config,
        custom_dirs=custom_clock_dirs(),
        qc_tables=QC_TABLES,
    script:
        "../scripts/write_figures.py"


rule write_report:
    input:
        **QC_TABLES,
        **DELTA_TABLES,
        predictions="results/clocks/predictions.parquet",
        provenance="results/provenance.json",
        figure_dir="results/figures",
        custom_cards=custom_clock_files("model_card.json"),
        custom_definitions=custom_clock_files("clock.yaml"),
    output:
        report(
            "results/report.html",
            caption="../report/report.rst",
            category="Report",
            labels={"file": "epiclock report"},
        ),
    log:
        **job_log("write_report"),
    benchmark:
        job_benchmark("write_report")
    conda:
        "../envs/epiclock.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        config=config,
        custom_dirs=custom_clock_dirs(),
        qc_tables=QC_TABLES,
    script:
        "../scripts/write_report.py"
