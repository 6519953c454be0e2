"""gunicorn's configuration (``api.gunicorn_conf``) and the in-process runner (``python -m api``).

``api.gunicorn_conf`` sets ``PROMETHEUS_MULTIPROC_DIR`` when imported: every test here
imports it with that variable pointing into ``tmp_path`` (monkeypatched, so restored), and
the module is never imported at collection time.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import api.__main__ as api_main
from common.config_manager import build_config
from common.settings import XorbConfig

SRC = Path(__file__).resolve().parents[3] / "src"


@pytest.fixture
def prom_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    folder = tmp_path / "prom"
    folder.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    return folder


@pytest.fixture
def conf(prom_dir: Path) -> ModuleType:
    import api.gunicorn_conf

    return importlib.reload(api.gunicorn_conf)


@pytest.fixture
def config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> XorbConfig:
    monkeypatch.setenv("API_RATE_LIMIT_STORAGE", "memory://")
    return build_config("test", secrets_dir=tmp_path)


def test_default_workers(conf: ModuleType) -> None:
    assert conf.default_workers(1) == 3
    assert conf.default_workers(2) == 5
    assert conf.default_workers(64) == 8


def test_settings_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, prom_dir: Path, conf: ModuleType
) -> None:
    assert conf.workers == conf.default_workers()
    assert conf.preload_app is True
    assert conf.worker_class == "uvicorn_worker.UvicornWorker"
    monkeypatch.setenv("WORKERS", "3")
    monkeypatch.setenv("GRACEFUL_TIMEOUT", "7")
    monkeypatch.setenv("PORT", "9001")
    conf = importlib.reload(conf)
    assert (conf.workers, conf.graceful_timeout, conf.bind) == (3, 7, "0.0.0.0:9001")
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(prom_dir)  # kept when set


def test_prometheus_dir_is_made_when_unset(
    monkeypatch: pytest.MonkeyPatch, conf: ModuleType
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    folder = Path(conf.prometheus_multiproc_dir())
    try:
        assert folder.is_dir()
        assert folder.name.startswith("xorb-prom-")
        assert folder.parent == Path(conf._tmp)
        assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(folder)
        assert conf.prometheus_multiproc_dir() == str(folder)  # once per process
    finally:
        shutil.rmtree(folder)


def test_prometheus_dir_is_set_before_the_preloaded_app_imports_prometheus_client(
    tmp_path: Path,
) -> None:
    """prometheus_client picks its value class when first imported: in the master, by
    the preloaded app, after gunicorn read this configuration and before any hook."""
    code = (
        "import json, os, sys\n"
        "import api.gunicorn_conf\n"
        "before = 'prometheus_client' in sys.modules\n"
        "import api.app\n"
        "from prometheus_client import values\n"
        "print(json.dumps({'before': before, 'dir': os.environ['PROMETHEUS_MULTIPROC_DIR'],\n"
        "                  'value_class': values.ValueClass.__name__}))\n"
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "PROMETHEUS_MULTIPROC_DIR" and not k.startswith("XORB_")
    }
    env.update(PYTHONPATH=str(SRC), XORB_ENV="test", XORB_SECRETS_DIR=str(tmp_path))
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    shutil.rmtree(result["dir"], ignore_errors=True)
    assert result["before"] is False
    assert Path(result["dir"]).name.startswith("xorb-prom-")
    assert result["value_class"] == "MmapedValue"


def test_warm_imports_skip_what_is_not_installed(conf: ModuleType) -> None:
    conf.warm_imports(("json", "xorb_no_such_module"))
    assert "json" in sys.modules
    assert "xorb_no_such_module" not in sys.modules


def test_gunicorn_application_reads_the_conf_module_then_gunicorn_cmd_args(
    monkeypatch: pytest.MonkeyPatch, conf: ModuleType, config: XorbConfig
) -> None:
    monkeypatch.setenv("WORKERS", "4")
    monkeypatch.setenv("GUNICORN_CMD_ARGS", "--timeout 11")
    importlib.reload(conf)
    app = api_main.gunicorn_application(config)
    cfg = app.cfg
    assert cfg.workers == 4
    assert cfg.timeout == 11
    assert cfg.preload_app is True
    assert cfg.worker_class_str == "uvicorn_worker.UvicornWorker"
    assert cfg.logger_class is conf.JsonLogger
    assert cfg.on_starting is not None and cfg.child_exit is not None
    assert cfg.proc_name == "xorb-api"
    fastapi_app = app.wsgi()
    assert fastapi_app is app.wsgi()  # created once (in the master), shared by the workers
    assert fastapi_app.title == "XORB platform API"


def test_main_runs_gunicorn_in_this_process(
    monkeypatch: pytest.MonkeyPatch, config: XorbConfig
) -> None:
    calls: list[Any] = []

    class FakeApp:
        def run(self) -> None:
            calls.append("run")

    def fake_application(cfg: XorbConfig) -> FakeApp:
        calls.append(cfg)
        return FakeApp()

    monkeypatch.setattr(api_main, "load_or_exit", lambda: config)
    monkeypatch.setattr(api_main, "gunicorn_application", fake_application)
    monkeypatch.setattr(os, "execvp", lambda *a: pytest.fail("exec"))
    api_main.main()
    assert calls == [config, "run"]
    assert os.environ["API_PORT"] == str(config.api_service.port)


def test_main_uses_uvicorn_reload_in_development(
    monkeypatch: pytest.MonkeyPatch, config: XorbConfig
) -> None:
    import uvicorn

    seen: dict[str, Any] = {}
    dev = config.model_copy(update={"env": "development"})
    monkeypatch.setattr(api_main, "load_or_exit", lambda: dev)
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    monkeypatch.setattr(
        api_main, "gunicorn_application", lambda cfg: pytest.fail("gunicorn in development")
    )
    api_main.main()
    assert seen["app"] == "api.app:create_app"
    assert seen["factory"] is True and seen["reload"] is True


DRAINED_SERVER = """
import sys
from gunicorn.app.base import BaseApplication
from api.__main__ import draining_arbiter

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]

class Server(BaseApplication):
    def load_config(self):
        self.cfg.set("bind", sys.argv[1])
        self.cfg.set("workers", 1)
        self.cfg.set("graceful_timeout", 5)

    def load(self):
        return app

    def run(self):
        draining_arbiter(float(sys.argv[2]))(self).run()

Server().run()
"""


def _answers(port: int) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.mark.parametrize("drain", [0.0, 3.0])
def test_sigterm_drains_for_drain_seconds_then_stops_gracefully(
    tmp_path: Path, drain: float
) -> None:
    """A real gunicorn master: with a drain, new connections are still served after SIGTERM
    (swarm's DNS may still hand out the address); without, the port closes at once."""
    import signal
    import socket
    import time

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-c", DRAINED_SERVER, f"127.0.0.1:{port}", str(drain)],
        env={**os.environ, "PYTHONPATH": str(SRC)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not _answers(port):
            assert server.poll() is None and time.monotonic() < deadline, "gunicorn never answered"
            time.sleep(0.1)
        server.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        served_after_term = _answers(port)
        _, err = server.communicate(timeout=drain + 15)
    finally:
        server.kill()
    assert server.returncode == 0, err
    assert served_after_term is (drain > 0), err
    if drain:
        assert "still serving for 3s (drain)" in err
