"""Judging images and the toolchain: the security scan, the size report, ``inv doctor`` and
the guide's 8-category container test suite (:mod:`~xorb_tools.quality.structure`)."""
