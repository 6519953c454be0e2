"""Docker Swarm: ``inv swarm.init|leave``, rolling updates (``inv deploy --engine swarm``),
scaling.

A swarm deploy reuses an environment's compose files. ``docker stack deploy`` reads neither
``extends`` nor several compose keys, so :func:`deploy`

1. renders the files with ``docker compose config`` (:func:`xorb_tools.deploy.stack.render`);
2. adapts the result to what swarm supports (:func:`adapt`, no engine involved): ``tmpfs``
   and ``shm_size`` become tmpfs mounts, read-only bind mounts of files become swarm configs,
   file secrets become swarm secrets named with a hash of their content (swarm secrets are
   immutable, so a changed file is a new secret), a one-shot service (``restart: "no"``)
   becomes a job, ``depends_on`` and the options swarm ignores are dropped with a note, and
   the release's version becomes the image tag of every XORB service and ``XORB_VERSION``,
   and its tasks keep serving for ``DRAIN_SECONDS`` after SIGTERM (swarm's DNS still names
   them to nginx for a few seconds);
3. deploys it (``docker stack deploy``) and polls ``docker service inspect`` until every
   service has converged (``UpdateStatus`` ``completed``, or every task running the new spec)
   or swarm has rolled an update back (``rollback_completed``), within ``timeout`` seconds.

The compose files carry the rollout policy (``x-rollout``: one task at a time, a delay,
``failure_action: rollback``, start-first) and make the endpoint mode and the port publishing
mode variables (``XORB_ENDPOINT_MODE``, ``XORB_PUBLISH_MODE``) whose defaults are swarm's
(``vip``, ``ingress``). Hosts without IPVS (these) need ``dnsrr`` and ``host``.

The stack is named like the compose project, ``<namespace>-<environment>`` (``XORB_PROJECT``
names the namespace; a test suite's ``XORB_PROJECT_PREFIX`` replaces it).

Modules: :mod:`~.node` (the swarm itself), :mod:`~.spec`, :mod:`~.adapt` and :mod:`~.mounts`
(compose to a stack file, pure), :mod:`~.converge` (engine state, waiting), :mod:`~.capacity`,
:mod:`~.placement` (node labels, digests: pure) and :mod:`~.distribute` (labels and images onto
the nodes), :mod:`~.rollout` (deploy), :mod:`~.operate` (scale, prune, remove). The package
re-exports their public names.
"""

from xorb_tools.deploy.swarm.adapt import DRAIN_SECONDS as DRAIN_SECONDS
from xorb_tools.deploy.swarm.adapt import JOB_RETRIES as JOB_RETRIES
from xorb_tools.deploy.swarm.adapt import KEPT as KEPT
from xorb_tools.deploy.swarm.adapt import RESERVATIONS_ENV as RESERVATIONS_ENV
from xorb_tools.deploy.swarm.adapt import SILENT as SILENT
from xorb_tools.deploy.swarm.adapt import TRANSLATED as TRANSLATED
from xorb_tools.deploy.swarm.adapt import adapt as adapt
from xorb_tools.deploy.swarm.adapt import repository as repository
from xorb_tools.deploy.swarm.capacity import capacity as capacity
from xorb_tools.deploy.swarm.capacity import check_capacity as check_capacity
from xorb_tools.deploy.swarm.capacity import reserved as reserved
from xorb_tools.deploy.swarm.converge import JOB_SETTLE as JOB_SETTLE
from xorb_tools.deploy.swarm.converge import NAMESPACE_LABEL as NAMESPACE_LABEL
from xorb_tools.deploy.swarm.converge import POLL_SECONDS as POLL_SECONDS
from xorb_tools.deploy.swarm.converge import SPEC_KEYS as SPEC_KEYS
from xorb_tools.deploy.swarm.converge import ServiceState as ServiceState
from xorb_tools.deploy.swarm.converge import Snapshot as Snapshot
from xorb_tools.deploy.swarm.converge import same_spec as same_spec
from xorb_tools.deploy.swarm.converge import service_state as service_state
from xorb_tools.deploy.swarm.converge import snapshot as snapshot
from xorb_tools.deploy.swarm.converge import wait as wait
from xorb_tools.deploy.swarm.mounts import tmpfs_mount as tmpfs_mount
from xorb_tools.deploy.swarm.node import INIT_HINT as INIT_HINT
from xorb_tools.deploy.swarm.node import init as init
from xorb_tools.deploy.swarm.node import leave as leave
from xorb_tools.deploy.swarm.node import node_state as node_state
from xorb_tools.deploy.swarm.node import require_manager as require_manager
from xorb_tools.deploy.swarm.node import stack_name as stack_name
from xorb_tools.deploy.swarm.operate import prune as prune
from xorb_tools.deploy.swarm.operate import remove as remove
from xorb_tools.deploy.swarm.operate import scale as scale
from xorb_tools.deploy.swarm.rollout import ENDPOINT_MODES as ENDPOINT_MODES
from xorb_tools.deploy.swarm.rollout import PUBLISH_MODES as PUBLISH_MODES
from xorb_tools.deploy.swarm.rollout import Outcome as Outcome
from xorb_tools.deploy.swarm.rollout import deploy as deploy
from xorb_tools.deploy.swarm.rollout import prepare as prepare
from xorb_tools.deploy.swarm.rollout import release_images as release_images
from xorb_tools.deploy.swarm.rollout import stack_file as stack_file
from xorb_tools.deploy.swarm.spec import Adapted as Adapted
from xorb_tools.deploy.swarm.spec import AdaptOptions as AdaptOptions
from xorb_tools.deploy.swarm.spec import Notes as Notes
from xorb_tools.deploy.swarm.spec import check_version as check_version
from xorb_tools.deploy.swarm.spec import content_hash as content_hash
