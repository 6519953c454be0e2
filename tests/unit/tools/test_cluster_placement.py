"""A stack file for more than one node (pure): digests pinned, placement from the production
file's deploy keys, node labels checked, the traffic guard. The real cluster: tests/cluster."""

from __future__ import annotations

from typing import Any

import pytest

from xorb_tools.core.errors import XorbError
from xorb_tools.deploy import cluster, stack
from xorb_tools.deploy.swarm import distribute, placement

DIGEST = "sha256:" + "ab" * 32


def _rendered(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return stack.render(stack.open_stack("production", resolve_images=False))


def test_data_services_are_pinned_to_the_data_node_and_nginx_to_the_edge(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    needed = placement.required_labels(_rendered(monkeypatch))
    # (grafana too, when its profile is on)
    assert needed[(placement.DATA_LABEL, "true")] == ["postgres", "prometheus", "redis", "temporal"]
    assert needed[(placement.EDGE_LABEL, "true")] == ["nginx"]


def test_api_and_worker_spread_with_a_limit_per_node(monkeypatch: pytest.MonkeyPatch) -> None:
    config = _rendered(monkeypatch, XORB_MAX_REPLICAS_PER_NODE="1")
    for name in ("api", "worker"):
        spread = config["services"][name]["deploy"]["placement"]
        assert spread == {"max_replicas_per_node": 1, "preferences": [{"spread": "node.id"}]}
    unlimited = _rendered(monkeypatch, XORB_MAX_REPLICAS_PER_NODE="0")
    assert "max_replicas_per_node" not in unlimited["services"]["api"]["deploy"]["placement"]


def test_pinning_replaces_every_listed_image_and_nothing_else() -> None:
    config = {
        "services": {
            "api": {"image": "xorb/api:1.2"},
            "postgres": {"image": "xorb/infra-postgres:17"},
            "other": {"image": "busybox"},
        }
    }
    pinned = {
        ref: placement.pinned_ref("10.232.0.1:5000", ref, DIGEST)
        for ref in ("xorb/api:1.2", "xorb/infra-postgres:17")
    }
    out = placement.pin_images(config, pinned)
    assert out["services"]["api"]["image"] == f"10.232.0.1:5000/xorb/api@{DIGEST}"
    assert out["services"]["postgres"]["image"] == f"10.232.0.1:5000/xorb/infra-postgres@{DIGEST}"
    assert out["services"]["other"]["image"] == "busybox"
    assert config["services"]["api"]["image"] == "xorb/api:1.2"  # input untouched
    assert placement.images_of(config) == ["busybox", "xorb/api:1.2", "xorb/infra-postgres:17"]
    assert placement.pinned_ref("reg:5000/", "team/x", DIGEST) == f"reg:5000/team/x@{DIGEST}"


def _node(labels: dict[str, str], ready: bool = True) -> distribute.Node:
    return distribute.Node("id", "node", ready, labels)


CONFIG = {
    "services": {
        "postgres": {"deploy": {"placement": {"constraints": ["node.labels.xorb.data == true"]}}},
        "api": {"deploy": {"placement": {"max_replicas_per_node": 1}}},
    }
}


def test_labels_a_single_node_gets_and_a_cluster_must_already_have() -> None:
    assert distribute.check_labels(CONFIG, [_node({})]) == {"xorb.data": "true"}
    assert distribute.check_labels(CONFIG, [_node({"xorb.data": "true"}), _node({})]) == {}
    with pytest.raises(XorbError, match=r"No ready node .* xorb.data=true \(postgres\)"):
        distribute.check_labels(CONFIG, [_node({}), _node({})])
    with pytest.raises(XorbError, match=r"label-add xorb\.data=true NODE"):  # a drained one
        distribute.check_labels(CONFIG, [_node({"xorb.data": "true"}, ready=False), _node({})])


def test_unreachable_registry_is_one_sentence_before_anything() -> None:
    with pytest.raises(XorbError, match=r"^Registry 127.0.0.1:9 is unreachable .* nothing was"):
        distribute.check_registry("127.0.0.1:9", "localhost:5000")


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://127.0.0.1:8443/health", True),
        ("http://10.232.0.11:80/", True),
        ("10.232.0.12", True),
        ("https://10.232.0.99/", False),
        ("https://example.com/", False),
        ("http://192.168.1.1/", False),
    ],
)
def test_traffic_goes_only_to_loopback_or_the_cluster(url: str, ok: bool) -> None:
    allowed = {"10.232.0.11", "10.232.0.12"}
    if ok:
        assert cluster.check_target(url, allowed) == url
    else:
        with pytest.raises(XorbError, match=r"^Refusing to send traffic to"):
            cluster.check_target(url, allowed)


def test_cluster_up_refuses_without_root_or_with_one_node(monkeypatch: pytest.MonkeyPatch) -> None:
    from xorb_tools.core import engine
    from xorb_tools.deploy.cluster import nodes

    monkeypatch.setattr(engine, "require_daemon", lambda: None)
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    with pytest.raises(XorbError, match=r"^A cluster needs root"):
        nodes.up(3, print)
    monkeypatch.setattr("os.geteuid", lambda: 0)
    with pytest.raises(XorbError, match="a cluster has 2 to 9 nodes"):
        nodes.up(1, print)
    monkeypatch.setenv(nodes.ROOT_VAR, "relative/dir")
    with pytest.raises(XorbError, match="is not a folder"):
        nodes.root()


def test_a_manager_that_does_not_answer_is_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    from xorb_tools.deploy.swarm import node

    monkeypatch.setenv(node.SWARM_HOST_VAR, "unix:///nonexistent/manager.sock")
    with pytest.raises(XorbError, match=r"^The swarm manager unix:///nonexistent/manager.sock"):
        node.require_manager()
