"""``inv bench``: build speed, cache effectiveness, image size and startup of the production
images, measured side by side with the naive baseline in ``bench/baseline/``.

:mod:`xorb_tools.bench.report` is the pure half (statistics, targets, rendering);
:mod:`xorb_tools.bench.runner` drives the engine.
"""
