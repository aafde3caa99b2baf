"""What the Snakemake workflow catalog and snakedeploy read: the catalog file and config/README.md."""

import re
import subprocess
import sys
from pathlib import Path

import yaml

from conftest import PROJECT_ROOT

SCHEMA = PROJECT_ROOT / "config/schemas/config.schema.yaml"


def test_catalog_file_declares_usage_and_report():
    catalog = yaml.safe_load((PROJECT_ROOT / ".snakemake-workflow-catalog.yml").read_text())
    usage = catalog["usage"]
    assert set(usage) <= {"mandatory-flags", "software-stack-deployment", "report"}
    assert usage["report"] is True
    assert usage["software-stack-deployment"]["conda"] is True
    assert (PROJECT_ROOT / "envs/epiclock.yaml").is_file()
    flags = usage["mandatory-flags"]
    assert flags["desc"] and "--configfile" in flags["flags"]


def _keys_without_description(node: dict, schema: dict, path: str) -> list[str]:
    if "$ref" in node:
        target = schema
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = {**target, **node}
    missing = [] if node.get("description") or not path else [path]
    for name, child in node.get("properties", {}).items():
        missing += _keys_without_description(child, schema, f"{path}.{name}" if path else name)
    if isinstance(node.get("items"), dict):
        missing += [key for key in _keys_without_description(node["items"], schema, f"{path}[]")
                    if key != f"{path}[]"]
    for option in node.get("oneOf", []):
        missing += [key for key in _keys_without_description(option, schema, path) if key != path]
    return missing


def test_every_config_key_is_described_in_the_schema():
    schema = yaml.safe_load(SCHEMA.read_text())
    assert _keys_without_description(schema, schema, "") == []


def test_config_readme_is_generated_from_the_schema():
    result = subprocess.run([sys.executable, str(PROJECT_ROOT / "ci/config_readme.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    readme = (PROJECT_ROOT / "config/README.md").read_text()
    schema = yaml.safe_load(SCHEMA.read_text())
    for key in schema["properties"]:
        assert f"| `{key}` |" in readme, key
    assert "| `qc.min_call_rate` | number, >= 0, <= 1 | `0.95` |" in readme


def test_every_reported_output_has_a_caption_of_its_own():
    captions = []
    for rules_file in sorted((PROJECT_ROOT / "rules").glob("*.smk")):
        text = rules_file.read_text()
        for block in re.finditer(r"report\(\s*(?:directory\()?\"([^\"]+)\"\)?,(.*?)\)", text, flags=re.S):
            output, arguments = block.groups()
            caption = re.search(r'caption="([^"]+)"', arguments)
            assert caption, f"{rules_file.name}: {output} goes into the report without a caption"
            path = (rules_file.parent / caption.group(1)).resolve()
            assert path.is_file() and path.read_text().strip(), f"{output}: caption {path} is missing or empty"
            captions.append((output, path))
    assert len(captions) >= 9
    shared = {path for _, path in captions if [p for _, p in captions].count(path) > 1}
    assert not shared, f"captions shared by several outputs: {sorted(map(str, shared))}"


def test_workflow_files_are_snakefmt_formatted():
    files = [str(PROJECT_ROOT / "Snakefile"), str(PROJECT_ROOT / "rules")]
    result = subprocess.run([str(Path(sys.executable).with_name("snakefmt")), "--check", *files],
                            capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert result.returncode == 0, f"run `snakefmt Snakefile rules/` (make lint checks):\n{result.stderr[-2000:]}"


def test_snakemake_lint_finds_nothing(tmp_path):
    """On the demo's config, also before the demo is simulated (nothing at parse time needs the inputs)."""
    result = subprocess.run([sys.executable, "-m", "snakemake", "--lint", "--snakefile", str(PROJECT_ROOT / "Snakefile"),
                             "--directory", str(tmp_path), "--configfile", str(PROJECT_ROOT / "config/config.yaml")],
                            capture_output=True, text=True, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "Lints for" not in output, output[-3000:]
