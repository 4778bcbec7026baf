"""Benchmarks. Each `bench/<name>.py` runs its subject and its baseline side by side and
prints one JSON object as the last line of stdout (see `bench/common.py`)."""
