"""The cluster suite shares the deploy suites' fixtures: an engine, production secrets."""

from tests.deploy.conftest import _engine as _engine
from tests.deploy.conftest import production_secrets as production_secrets
