# The array manifest: a local file from the config, or downloaded once with a pinned checksum.


# Cluster compute nodes often have no internet: the download runs where Snakemake runs.
localrules:
    download_manifest,


rule download_manifest:
    output:
        "resources/manifests/{filename}",
    params:
        url=config["manifest"]["url"],
        sha256=config["manifest"]["sha256"],
    log:
        "logs/resources/{filename}.log",
    threads: 1
    resources:
        mem_mb=500,
        runtime=30,
    conda:
        "../envs/epiclock.yaml"
    script:
        "../scripts/download_manifest.py"


rule cache_manifest:
    input:
        manifest_file(),
    output:
        probes="resources/manifests/parsed/probes.parquet",
        controls="resources/manifests/parsed/controls.parquet",
    params:
        sha256=config["manifest"]["sha256"],
    log:
        "logs/resources/manifest.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../envs/epiclock.yaml"
    script:
        "../scripts/cache_manifest.py"
