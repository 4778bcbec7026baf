"""bench/RESULTS.md: `make bench` replaces a benchmark's figure block and keeps the text around it;
the benchmarks stand on their own (no imports from tests/)."""

from __future__ import annotations

import ast
from pathlib import Path

from bench.__main__ import HEADER, record

ROOT = Path(__file__).resolve().parents[2]


def line(name: str, value: float) -> dict:
    return {"bench": name, "unit": "events/s", "value": value, "baseline": 1.0, "ratio": value, "params": {}}


def test_a_new_figure_replaces_the_old_block_and_keeps_the_story_around_it(tmp_path):
    results = tmp_path / "RESULTS.md"
    record(line("relay", 100.0), results)
    record(line("e2e", 5.0), results)
    story = "The relay went from 93 to 794 events/s when it batched."
    results.write_text(results.read_text().replace("## relay\n", f"## relay\n\nAim: 5x.\n\n{story}\n"))

    record(line("relay", 812.0), results)

    text = results.read_text()
    assert text.startswith(HEADER)
    assert story in text
    assert "Aim: 5x." in text
    assert "**812.0 events/s**" in text
    assert "**100.0 events/s**" not in text
    assert "**5.0 events/s**" in text
    assert text.count("<!-- relay -->") == 1
    assert text.index("## relay") < text.index("**812.0") < text.index("## e2e")


def test_a_benchmark_without_a_section_gets_one_at_the_end(tmp_path):
    results = tmp_path / "RESULTS.md"
    results.write_text(HEADER + "\n## relay\n\nNothing measured yet.\n")

    record(line("stampede", 1.0), results)

    text = results.read_text()
    assert text.index("Nothing measured yet.") < text.index("## stampede") < text.index("<!-- stampede -->")


def test_the_recorded_results_file_has_a_block_for_every_benchmark_it_names():
    text = (ROOT / "bench/RESULTS.md").read_text()
    names = [line[3:].strip() for line in text.splitlines() if line.startswith("## ")]
    assert names
    for name in names:
        assert text.count(f"<!-- {name} -->") == 1, name
        assert text.count(f"<!-- /{name} -->") == 1, name


def test_benchmarks_do_not_import_from_the_tests():
    importing = []
    for path in sorted((ROOT / "bench").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            modules = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            importing += [f"{path.name}: {m}" for m in modules if m == "tests" or m.startswith("tests.")]
    assert importing == []
