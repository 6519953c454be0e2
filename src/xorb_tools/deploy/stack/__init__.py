"""The compose stacks: ``inv up|down|logs|ps|restart|scale|deploy|exec|stats|secrets.init``.

One environment is one compose file, ``compose/docker-compose.<environment>.yml`` (it
extends the base ``compose/docker-compose.yml``), and one project, ``xorb-<environment>``.
:func:`open_stack` makes the python-on-whales client for it: the compose file, the project
name, the profiles, and an env file (``$TMPDIR/xorb-compose-<uid>/xorb-<env>-<content digest>.env``)
that holds the variables the compose files read, i.e. image references and the secrets
folder, never a secret value. The process environment still wins over that file, as compose does.

Before anything starts, :func:`preflight` renders the configuration (``docker compose
config``, which fails on a broken file) and checks that every secret file it mounts exists;
a problem is one :class:`XorbError` sentence and nothing has been created.

Modules: :mod:`~.config` (the stack as data), :mod:`~.checks`, :mod:`~.actions`. The
package re-exports their public names.
"""

from xorb_tools.deploy.stack.actions import (
    ContainerHealth as ContainerHealth,
)
from xorb_tools.deploy.stack.actions import (
    Usage as Usage,
)
from xorb_tools.deploy.stack.actions import (
    deploy as deploy,
)
from xorb_tools.deploy.stack.actions import (
    down as down,
)
from xorb_tools.deploy.stack.actions import (
    ensure_images as ensure_images,
)
from xorb_tools.deploy.stack.actions import (
    execute as execute,
)
from xorb_tools.deploy.stack.actions import (
    for_terminal as for_terminal,
)
from xorb_tools.deploy.stack.actions import (
    health as health,
)
from xorb_tools.deploy.stack.actions import (
    init_secrets as init_secrets,
)
from xorb_tools.deploy.stack.actions import (
    logs as logs,
)
from xorb_tools.deploy.stack.actions import (
    migrate as migrate,
)
from xorb_tools.deploy.stack.actions import (
    missing_images as missing_images,
)
from xorb_tools.deploy.stack.actions import (
    restart as restart,
)
from xorb_tools.deploy.stack.actions import (
    say as say,
)
from xorb_tools.deploy.stack.actions import (
    stats as stats,
)
from xorb_tools.deploy.stack.actions import (
    up as up,
)
from xorb_tools.deploy.stack.checks import (
    check_services as check_services,
)
from xorb_tools.deploy.stack.checks import (
    preflight as preflight,
)
from xorb_tools.deploy.stack.checks import (
    render as render,
)
from xorb_tools.deploy.stack.checks import (
    secret_files as secret_files,
)
from xorb_tools.deploy.stack.checks import (
    validate as validate,
)
from xorb_tools.deploy.stack.config import (
    BASE_FILE as BASE_FILE,
)
from xorb_tools.deploy.stack.config import (
    COMPOSE_DIR as COMPOSE_DIR,
)
from xorb_tools.deploy.stack.config import (
    DURABLE_ENVIRONMENTS as DURABLE_ENVIRONMENTS,
)
from xorb_tools.deploy.stack.config import (
    GRAFANA as GRAFANA,
)
from xorb_tools.deploy.stack.config import (
    GRAFANA_DEFAULT as GRAFANA_DEFAULT,
)
from xorb_tools.deploy.stack.config import (
    INFRA as INFRA,
)
from xorb_tools.deploy.stack.config import (
    OVERRIDES_VAR as OVERRIDES_VAR,
)
from xorb_tools.deploy.stack.config import (
    ROOT as ROOT,
)
from xorb_tools.deploy.stack.config import (
    SWITCH_DIR_VAR as SWITCH_DIR_VAR,
)
from xorb_tools.deploy.stack.config import (
    TEMPORAL_DURABLE as TEMPORAL_DURABLE,
)
from xorb_tools.deploy.stack.config import (
    WAIT_TIMEOUT as WAIT_TIMEOUT,
)
from xorb_tools.deploy.stack.config import (
    ImageBuilder as ImageBuilder,
)
from xorb_tools.deploy.stack.config import (
    Stack as Stack,
)
from xorb_tools.deploy.stack.config import (
    compose_file as compose_file,
)
from xorb_tools.deploy.stack.config import (
    durable_temporal as durable_temporal,
)
from xorb_tools.deploy.stack.config import (
    env_lines as env_lines,
)
from xorb_tools.deploy.stack.config import (
    grafana_available as grafana_available,
)
from xorb_tools.deploy.stack.config import (
    image_tag as image_tag,
)
from xorb_tools.deploy.stack.config import (
    open_stack as open_stack,
)
from xorb_tools.deploy.stack.config import (
    override_files as override_files,
)
from xorb_tools.deploy.stack.config import (
    parse_scales as parse_scales,
)
from xorb_tools.deploy.stack.config import (
    secrets_folder as secrets_folder,
)
from xorb_tools.deploy.stack.config import (
    switch_dir as switch_dir,
)
