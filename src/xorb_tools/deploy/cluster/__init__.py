"""A real multi-node Docker Swarm on one host (``inv cluster.up|down|status|drain``).

Each node is a real ``dockerd`` (Debian's, as ``scripts/install-docker.sh`` installs) with
its own data root, exec root, socket, hostname and network namespace, attached to one host
bridge with an address of its own; node 1 is the swarm manager and carries the data and
edge labels the production file's placement asks for. The nodes pull images from this
host's registry (reached on the bridge) by digest. Swarm on this kernel has no IPVS, so
stacks run with ``dnsrr`` endpoints and host-mode ports, as on a single node.

Modules: :mod:`~.network` (bridge, registry forward, the traffic guard), :mod:`~.nodes`
(engines, the swarm, state, teardown), :mod:`~.operations` (status, drain, a node crash).
"""

from xorb_tools.core.errors import XorbError as XorbError
from xorb_tools.deploy.cluster.network import BRIDGE as BRIDGE
from xorb_tools.deploy.cluster.network import check_target as check_target
from xorb_tools.deploy.cluster.nodes import Cluster as Cluster
from xorb_tools.deploy.cluster.nodes import NodeInfo as NodeInfo
from xorb_tools.deploy.cluster.nodes import down as down
from xorb_tools.deploy.cluster.nodes import leftovers as leftovers
from xorb_tools.deploy.cluster.nodes import load as load
from xorb_tools.deploy.cluster.nodes import require as require
from xorb_tools.deploy.cluster.nodes import up as up
from xorb_tools.deploy.cluster.operations import crash as crash
from xorb_tools.deploy.cluster.operations import drain as drain
from xorb_tools.deploy.cluster.operations import placement as placement
from xorb_tools.deploy.cluster.operations import status as status
from xorb_tools.deploy.swarm.node import stack_name as stack_name
