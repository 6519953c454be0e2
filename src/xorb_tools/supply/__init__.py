"""Supply chain: attestations (provenance, SBOM) on built images, signatures, verification.

:mod:`~.attest` decides which attestations a build attaches (pure) and reads them back from
a registry; :mod:`~.signing` holds cosign-format key signatures; :mod:`~.verify` runs
``inv sign`` and ``inv verify`` over a release's images.
"""
