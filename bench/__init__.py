"""The benchmark of issue 10: ``uv run inv bench`` or ``uv run python -m bench``.

The logic is :mod:`xorb_tools.bench`; ``bench/baseline/`` holds the naive comparison
Dockerfile (never shipped). See ``bench/README.md``.
"""
