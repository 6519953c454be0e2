"""Images made from Debian packages without any registry: the air-gapped base image the
services build on (:mod:`~xorb_tools.rootfs.base_image`) and the infrastructure images
(PostgreSQL, Redis, nginx, Prometheus, Temporal; :mod:`~xorb_tools.rootfs.infra`)."""
