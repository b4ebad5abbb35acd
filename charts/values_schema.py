"""The chart's values.schema.json and its README's parameter table, generated from one source:
values.yaml's `## @param` comments, read by Bitnami's readme-generator-for-helm (npm, pinned below).

The generator knows each value's type, description and default. What it cannot know lives in a
small hand-kept overlay, charts/mp4mp3/values.schema.overlay.yaml: enums, patterns, bounds, the
shape of free-form lists (tolerations, extraEnv) and keys a value may have beyond its default
(resources' ephemeral-storage). Two rules are applied to the generated schema before the overlay:
every object the generator describes rejects unknown keys (a typo fails `helm install`), and a
value whose default is a whole number is an integer (the generator says "number").

    python charts/values_schema.py          # write values.schema.json and README.md (make chart-schema)
    python charts/values_schema.py --check  # exit 1 if the committed files are not what it makes

The generator is installed with npm into the mp4mp3 cache folder (outside the repository) the first
time, as the devstack's other tools are.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parent / "mp4mp3"
GENERATOR = "@bitnami/readme-generator-for-helm"
GENERATOR_VERSION = "2.7.2"
Schema = dict[str, Any]


def cache_dir() -> Path:
    """Where the generator is installed: the devstack's cache (MP4MP3_CACHE, else XDG's)."""
    xdg = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return (
        Path(os.environ.get("MP4MP3_CACHE", xdg / "mp4mp3"))
        / f"readme-generator-for-helm-{GENERATOR_VERSION}"
    )


def generator() -> Path:
    """The readme-generator executable, installed with npm on first use (idempotent)."""
    folder = cache_dir()
    binary = folder / "node_modules" / ".bin" / "readme-generator"
    if not binary.exists():
        if shutil.which("npm") is None:
            sys.exit("values_schema: npm is needed to install readme-generator-for-helm (Debian: nodejs npm)")
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--prefix", str(folder), "--no-save", f"{GENERATOR}@{GENERATOR_VERSION}"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return binary


@dataclass(frozen=True)
class Generated:
    schema: str
    readme: str


def generate(chart: Path = CHART) -> Generated:
    """Run the generator on copies of values.yaml and README.md, then apply the rules and overlay."""
    with tempfile.TemporaryDirectory(prefix="chart-schema-") as tmp:
        work = Path(tmp)
        shutil.copyfile(chart / "values.yaml", work / "values.yaml")
        shutil.copyfile(chart / "README.md", work / "README.md")
        done = subprocess.run(
            [str(generator()), "-v", "values.yaml", "-r", "README.md", "-s", "schema.json"],
            cwd=work,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:  # e.g. a value without its `## @param` line
            errors = [line for line in done.stdout.splitlines() if line.startswith("ERROR")]
            sys.exit("readme-generator-for-helm failed:\n" + "\n".join(errors or [done.stderr[-2000:]]))
        generated = json.loads((work / "schema.json").read_text())
        readme = (work / "README.md").read_text()
    overlay = yaml.safe_load((chart / "values.schema.overlay.yaml").read_text())
    text = (chart / "values.yaml").read_text()
    described = dict(re.findall(r"^\s*## @param (\S+) (?:\[[^\]]*\] )?(.*)$", text, re.MULTILINE))
    values = yaml.safe_load(text)
    schema = merge(generated, overlay, values, described)
    objects = re.findall(r"^\s*## @param (\S+) \[object\] ", text, re.MULTILINE)
    return Generated(json.dumps(schema, indent=2, ensure_ascii=False) + "\n", shown(readme, objects, values))


def shown(readme: str, objects: list[str], values: dict[str, Any]) -> str:
    """The generator writes `{}` as the value of every `[object]` parameter: show its real default."""
    for name in objects:
        default = value_at(values, tuple(name.split(".")))
        if default:
            compact = json.dumps(default, separators=(", ", ": "))
            readme = re.sub(
                rf"^(\| `{re.escape(name)}` +\|.*\| )`\{{\}}`( +\|)$", rf"\1`{compact}`\2", readme, flags=re.M
            )
    return readme


def merge(
    generated: Schema, overlay: dict[str, Any], values: dict[str, Any], described: dict[str, str]
) -> Schema:
    """The generated schema, closed and typed by the rules, under the overlay's root keywords and
    with each overlay path's keywords merged into the value(s) it names. The generator leaves out
    values marked ``[object]`` in their `## @param` line: their node is made here, described by
    that line."""
    body = {k: v for k, v in generated.items() if k != "title"}
    close_and_type(body)
    schema: Schema = {**overlay["root"], **body, **overlay["root"]}  # the root's keywords first
    for pattern, keywords in overlay["values"].items():
        paths = matching(values, pattern.split("."))
        if not paths:
            raise ValueError(f"values.schema.overlay.yaml: {pattern} names no value of values.yaml")
        for path in paths:
            node = schema
            for key in path:
                node = node.setdefault("properties", {}).setdefault(key, {})
            if not node:
                node.update(description=described.get(".".join(path), ""), default=value_at(values, path))
            deep_merge(node, copy.deepcopy(keywords))
    return schema


def matching(values: Any, parts: list[str], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The key paths of values.yaml that a dotted pattern names (each part a glob, e.g. ``*``)."""
    if not parts:
        return [prefix]
    if not isinstance(values, dict):
        return []
    return [
        found
        for key in values
        if fnmatch.fnmatchcase(key, parts[0])
        for found in matching(values[key], parts[1:], (*prefix, key))
    ]


def value_at(values: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        values = values[key]
    return values


def close_and_type(node: Schema) -> None:
    """An object with known keys rejects others; a whole-number default makes an integer."""
    if node.get("type") == "object" and "properties" in node:
        node["additionalProperties"] = False
    if node.get("type") == "number" and isinstance(node.get("default"), int):
        node["type"] = "integer"
    for sub in node.get("properties", {}).values():
        close_and_type(sub)
    if isinstance(node.get("items"), dict):
        close_and_type(node["items"])


def deep_merge(into: Schema, extra: Schema) -> None:
    """Overlay keywords win (null removes one); ``properties`` and ``items`` are merged key by key."""
    for key, value in extra.items():
        if value is None:
            into.pop(key, None)
        elif key == "properties" and isinstance(into.get(key), dict):
            for sub, sub_value in value.items():
                if sub in into["properties"]:
                    deep_merge(into["properties"][sub], sub_value)
                else:
                    into["properties"][sub] = sub_value
        elif key == "items" and isinstance(into.get(key), dict) and isinstance(value, dict):
            deep_merge(into["items"], value)
        else:
            into[key] = value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed files differ")
    args = parser.parse_args(argv)
    made = generate()
    files = {CHART / "values.schema.json": made.schema, CHART / "README.md": made.readme}
    if not args.check:
        for path, text in files.items():
            path.write_text(text)
        return 0
    stale = 0
    for path, text in files.items():
        old = path.read_text()
        if old != text:
            stale += 1
            diff = difflib.unified_diff(
                old.splitlines(), text.splitlines(), str(path), "generated", lineterm=""
            )
            print("\n".join(list(diff)[:60]))
    if stale:
        print("the chart's schema or README is stale: run `make chart-schema`", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
