# The array manifest: a local file from the config, or downloaded once (the catalogue's for the IDATs'
# array with `manifest: auto`, or the config's url) and locked by its sha256.


# Cluster compute nodes often have no internet: the download runs where Snakemake runs.
localrules:
    download_manifest,


rule download_manifest:
    output:
        "resources/manifests/{manifest}/{filename}",
    log:
        **job_log("download_manifest", "{manifest}/{filename}"),
    benchmark:
        job_benchmark("download_manifest", "{manifest}/{filename}")
    wildcard_constraints:
        manifest="main|extra_[0-9]+",
        filename="[^/]+",
    conda:
        "../envs/epiclock.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=30,
    params:
        url=lambda wildcards: MANIFESTS[wildcards.manifest].url,
        sha256=lambda wildcards: MANIFESTS[wildcards.manifest].sha256,
        array=lambda wildcards: MANIFESTS[wildcards.manifest].array,
    script:
        "../scripts/download_manifest.py"


rule cache_manifest:
    input:
        lambda wildcards: manifest_file(wildcards.manifest),
    output:
        probes="resources/manifests/parsed/{manifest}/probes.parquet",
        controls="resources/manifests/parsed/{manifest}/controls.parquet",
    log:
        **job_log("cache_manifest", "{manifest}"),
    benchmark:
        job_benchmark("cache_manifest", "{manifest}")
    conda:
        "../envs/epiclock.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        sha256=lambda wildcards: MANIFESTS[wildcards.manifest].sha256,
    script:
        "../scripts/cache_manifest.py"
