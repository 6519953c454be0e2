"""``inv infra-images``: air-gapped stand-ins for the official infrastructure images.

Each row of :data:`IMAGES` names an image, the Debian suite and packages it is made of and the
official image it stands in for. :func:`build` makes one the same way for every row:

1. ``mmdebstrap`` writes a minimal rootfs of the row's packages (no docs, man pages or
   locales; fixed UIDs for the service user; ``SOURCE_DATE_EPOCH`` fixes every mtime) and it
   is imported as ``xorb/infra-rootfs-<name>:<tag>``;
2. the row's stage of ``docker/infra/Dockerfile`` (entrypoint, non-root user, healthcheck)
   is built on that rootfs with buildx, with no registry involved.

Both steps are skipped when their image exists and carries the digest of the inputs that made
it (``io.xorb.infra.inputs``), so a second run costs one ``docker image inspect`` per image.
:func:`resolve` picks what to run: the official image when it is local or pullable, else the
air-gapped one.

Modules: :mod:`~.catalog`, :mod:`~.inputs`, :mod:`~.images` (build), :mod:`~.choice`
(resolve). The package re-exports their public names.
"""

from xorb_tools.rootfs.infra.catalog import BUILD_HINT as BUILD_HINT
from xorb_tools.rootfs.infra.catalog import CLEAN_PATHS as CLEAN_PATHS
from xorb_tools.rootfs.infra.catalog import CONTEXT as CONTEXT
from xorb_tools.rootfs.infra.catalog import DEFAULT_CA_BUNDLE as DEFAULT_CA_BUNDLE
from xorb_tools.rootfs.infra.catalog import DOCKERFILE as DOCKERFILE
from xorb_tools.rootfs.infra.catalog import DPKG_EXCLUDES as DPKG_EXCLUDES
from xorb_tools.rootfs.infra.catalog import IMAGES as IMAGES
from xorb_tools.rootfs.infra.catalog import LABEL_INPUTS as LABEL_INPUTS
from xorb_tools.rootfs.infra.catalog import LABEL_OFFICIAL as LABEL_OFFICIAL
from xorb_tools.rootfs.infra.catalog import ROOT as ROOT
from xorb_tools.rootfs.infra.catalog import TOOLS as TOOLS
from xorb_tools.rootfs.infra.catalog import UV_LOCK as UV_LOCK
from xorb_tools.rootfs.infra.catalog import BuildResult as BuildResult
from xorb_tools.rootfs.infra.catalog import InfraImage as InfraImage
from xorb_tools.rootfs.infra.catalog import SystemUser as SystemUser
from xorb_tools.rootfs.infra.catalog import get as get
from xorb_tools.rootfs.infra.catalog import names as names
from xorb_tools.rootfs.infra.choice import resolve as resolve
from xorb_tools.rootfs.infra.choice import resolve_env as resolve_env
from xorb_tools.rootfs.infra.images import build as build
from xorb_tools.rootfs.infra.images import build_all as build_all
from xorb_tools.rootfs.infra.images import build_rootfs as build_rootfs
from xorb_tools.rootfs.infra.images import compressed_size as compressed_size
from xorb_tools.rootfs.infra.images import mmdebstrap_argv as mmdebstrap_argv
from xorb_tools.rootfs.infra.inputs import build_args as build_args
from xorb_tools.rootfs.infra.inputs import ca_bundle as ca_bundle
from xorb_tools.rootfs.infra.inputs import image_inputs as image_inputs
from xorb_tools.rootfs.infra.inputs import locked_hashes as locked_hashes
from xorb_tools.rootfs.infra.inputs import locked_version as locked_version
from xorb_tools.rootfs.infra.inputs import mirror_url as mirror_url
from xorb_tools.rootfs.infra.inputs import rootfs_inputs as rootfs_inputs
from xorb_tools.rootfs.infra.inputs import source_date_epoch as source_date_epoch
