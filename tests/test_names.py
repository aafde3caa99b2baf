"""Names lead somewhere: a newcomer follows them from a rule to its script, step, stage function and
test. Rule, script and step function share a name; every name docs/architecture.md gives is there."""

import ast
import importlib
import re

import yaml

from conftest import PROJECT_ROOT

DOC = PROJECT_ROOT / "docs/architecture.md"
SOURCE = PROJECT_ROOT / "src/epiclock"
# What a run writes: named in the page, not in the tree.
OUTPUT_DIRS = ("results/", "logs/", "benchmarks/")
TOP_LEVEL = {path.stem for path in SOURCE.iterdir() if path.suffix == ".py" or (path / "__init__.py").is_file()}


def named() -> list[str]:
    return sorted(set(re.findall(r"`([^`\s]+)`", DOC.read_text(encoding="utf-8"))))


def config_keys() -> set[str]:
    """Every key of the config schema, dotted (qc.min_call_rate)."""
    keys = set()

    def walk(node: dict, prefix: str) -> None:
        for name, child in node.get("properties", {}).items():
            keys.add(prefix + name)
            walk(child, prefix + name + ".")

    walk(yaml.safe_load((PROJECT_ROOT / "config/schemas/config.schema.yaml").read_text()), "")
    return keys


def resolves(dotted: str) -> bool:
    """epiclock.<dotted> (or <dotted> itself starting with epiclock.) is a module or an attribute of one."""
    parts = dotted.removeprefix("epiclock.").split(".")
    for split in range(len(parts), 0, -1):
        try:
            target = importlib.import_module("epiclock." + ".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[split:]:
            if not hasattr(target, attribute):
                return False
            target = getattr(target, attribute)
        return True
    return False


def words_in_code() -> set[str]:
    words = set()
    for path in [*SOURCE.rglob("*.py"), *PROJECT_ROOT.glob("rules/*.smk"), PROJECT_ROOT / "Snakefile"]:
        words |= set(re.findall(r"\w+", path.read_text(encoding="utf-8")))
    return words


def test_every_file_module_and_function_the_architecture_page_names_is_there():
    keys, words, wrong = config_keys(), words_in_code(), []
    for name in named():
        path, _, test = name.partition("::")
        if path.startswith(OUTPUT_DIRS):
            continue
        if "/" in path or re.search(r"\.(py|smk|toml|yaml|j2)$", path):
            found = [base / path for base in (PROJECT_ROOT, SOURCE) if (base / path).exists()]
            if not found:
                wrong.append(name)
            elif test and test not in {node.name for node in ast.walk(ast.parse(found[0].read_text()))
                                       if isinstance(node, ast.FunctionDef)}:
                wrong.append(name)
        elif re.fullmatch(r"[a-z_][\w]*(\.[A-Za-z_]\w*)+", path):
            if path not in keys and not (path.split(".")[0] in TOP_LEVEL | {"epiclock"} and resolves(path)):
                wrong.append(name)
        elif re.fullmatch(r"[A-Za-z_]\w*", path) and path not in words:
            wrong.append(name)
    assert not wrong, f"docs/architecture.md names what is not there: {wrong}"


def rule_blocks() -> dict[str, str]:
    """Each rule of rules/*.smk -> the text of its block."""
    blocks = {}
    for path in sorted(PROJECT_ROOT.glob("rules/*.smk")):
        parts = re.split(r"^\s*rule (\w+):\n", path.read_text(encoding="utf-8"), flags=re.M)
        blocks.update(zip(parts[1::2], parts[2::2]))
    return blocks


def test_rule_script_step_and_job_files_share_the_rule_name():
    """Rule X runs scripts/X.py, which runs epiclock.steps.X.X through run_step; its jobs' log and
    benchmark files are named for X. A name found is a name followed."""
    blocks = rule_blocks()
    assert len(blocks) >= 14
    for rule, block in blocks.items():
        assert re.search(rf'script:\s+"\.\./scripts/{rule}\.py"', block), rule
        assert f'**job_log("{rule}"' in block and f'job_benchmark("{rule}"' in block, rule
        script = (PROJECT_ROOT / f"scripts/{rule}.py").read_text(encoding="utf-8")
        assert f"from epiclock.steps.{rule} import {rule}\n" in script, rule
        assert re.search(rf"run_step\(\s*snakemake,\s*{rule},", script), rule
        step = importlib.import_module(f"epiclock.steps.{rule}")
        assert callable(getattr(step, rule)), rule
