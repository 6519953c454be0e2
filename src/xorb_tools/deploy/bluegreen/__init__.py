"""Blue-green deploys of the API on one host with compose (``inv deploy --strategy blue-green``).

The environment's stack (project ``xorb-<env>``) keeps the data services, the orchestrator,
the worker and nginx. Each API colour is its own compose project, ``xorb-<env>-blue`` and
``xorb-<env>-green``, from ``compose/docker-compose.bluegreen.yml``: the stack's ``api``
definition, image ``xorb/api:<version>`` (``XORB_VERSION`` in the container, reported by
``/health``), on the stack's networks with the alias ``api-<colour>``.

A deploy of version V:

1. checks its input (environment, V as a docker tag, ``xorb/api:V`` present) and starts the
   stack's other services when they are not running;
2. starts the idle colour with V beside the live one and waits (``timeout``) until every
   container of it is healthy, then smoke-tests each container directly on the edge network
   (``/health`` answers with V, ``/ready`` is 200) from inside the new colour;
3. writes ``set $api_upstream http://api-<colour>:8000;`` into ``upstream.conf`` of the
   folder nginx includes (:func:`xorb_tools.deploy.stack.switch_dir`), checks it with ``nginx -t``
   and reloads nginx gracefully (``nginx -s reload``): old workers finish their requests,
   new ones proxy to the new colour; the deploy waits until every old worker has exited;
4. drains: waits ``drain`` seconds more, then stops the old colour (SIGTERM: gunicorn
   finishes what it is serving within its graceful timeout).

The old colour is **stopped but kept** (containers present) until the next deploy replaces
it, so ``inv rollback`` can start it again, check it and switch back. A new colour that never
becomes healthy or fails the smoke test is removed, nginx is never touched, the old colour
keeps serving and the deploy fails with the reason; since the idle colour was replaced, no
rollback target is left after that.

Which colour is live (and which one is the previous) is on disk, in
``<state dir>/bluegreen/<env>.json`` (:func:`xorb_tools.deploy.deploylog.state_dir`), so a later
process sees it; the colour containers also carry ``io.xorb.colour`` and ``io.xorb.version``
labels. ``inv deploy --strategy recreate`` (the stack's own ``api``) retires both colours.

Modules: :mod:`~.state` (pure, and the state file), :mod:`~.colours`, :mod:`~.switch`,
:mod:`~.rollout`. The package re-exports their public names.
"""

from xorb_tools.deploy.bluegreen.colours import SMOKE as SMOKE
from xorb_tools.deploy.bluegreen.colours import SMOKE_GRACE as SMOKE_GRACE
from xorb_tools.deploy.bluegreen.colours import ColourStack as ColourStack
from xorb_tools.deploy.bluegreen.colours import colour_stack as colour_stack
from xorb_tools.deploy.bluegreen.colours import containers as containers
from xorb_tools.deploy.bluegreen.colours import digests as digests
from xorb_tools.deploy.bluegreen.colours import image_ref as image_ref
from xorb_tools.deploy.bluegreen.colours import require_image as require_image
from xorb_tools.deploy.bluegreen.colours import smoke as smoke
from xorb_tools.deploy.bluegreen.colours import wait_healthy as wait_healthy
from xorb_tools.deploy.bluegreen.rollout import Outcome as Outcome
from xorb_tools.deploy.bluegreen.rollout import deploy as deploy
from xorb_tools.deploy.bluegreen.rollout import ensure_base as ensure_base
from xorb_tools.deploy.bluegreen.rollout import live_colour as live_colour
from xorb_tools.deploy.bluegreen.rollout import retire as retire
from xorb_tools.deploy.bluegreen.rollout import rollback as rollback
from xorb_tools.deploy.bluegreen.state import API_PORT as API_PORT
from xorb_tools.deploy.bluegreen.state import COLOUR_FILE as COLOUR_FILE
from xorb_tools.deploy.bluegreen.state import COLOURS as COLOURS
from xorb_tools.deploy.bluegreen.state import DRAIN_SECONDS as DRAIN_SECONDS
from xorb_tools.deploy.bluegreen.state import NOT_BASE as NOT_BASE
from xorb_tools.deploy.bluegreen.state import POLL as POLL
from xorb_tools.deploy.bluegreen.state import SERVICE as SERVICE
from xorb_tools.deploy.bluegreen.state import STRATEGIES as STRATEGIES
from xorb_tools.deploy.bluegreen.state import TIMEOUT as TIMEOUT
from xorb_tools.deploy.bluegreen.state import UPSTREAM_FILE as UPSTREAM_FILE
from xorb_tools.deploy.bluegreen.state import NothingChanged as NothingChanged
from xorb_tools.deploy.bluegreen.state import State as State
from xorb_tools.deploy.bluegreen.state import alias as alias
from xorb_tools.deploy.bluegreen.state import check_engine as check_engine
from xorb_tools.deploy.bluegreen.state import check_strategy as check_strategy
from xorb_tools.deploy.bluegreen.state import check_version as check_version
from xorb_tools.deploy.bluegreen.state import load_state as load_state
from xorb_tools.deploy.bluegreen.state import locked as locked
from xorb_tools.deploy.bluegreen.state import other as other
from xorb_tools.deploy.bluegreen.state import parse_upstream as parse_upstream
from xorb_tools.deploy.bluegreen.state import render_upstream as render_upstream
from xorb_tools.deploy.bluegreen.state import save_state as save_state
from xorb_tools.deploy.bluegreen.state import state_path as state_path
from xorb_tools.deploy.bluegreen.state import write_atomic as write_atomic
from xorb_tools.deploy.bluegreen.switch import WORKERS_SCRIPT as WORKERS_SCRIPT
from xorb_tools.deploy.bluegreen.switch import nginx_container as nginx_container
from xorb_tools.deploy.bluegreen.switch import nginx_workers as nginx_workers
from xorb_tools.deploy.bluegreen.switch import reload_nginx as reload_nginx
from xorb_tools.deploy.bluegreen.switch import switch as switch
