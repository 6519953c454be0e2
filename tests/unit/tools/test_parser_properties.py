"""Property tests of the parsers of what users type: versions, registries, scale specs and
size budgets. Whatever the text, each returns a value that meets its rule or raises one
:class:`XorbError` sentence (one line, naming the input); never any other exception."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from xorb_tools.core import inputs
from xorb_tools.core.errors import XorbError
from xorb_tools.deploy import stack
from xorb_tools.quality import sizereport

TEXT = st.text(max_size=140)
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
SERVICES = ("api", "orchestrator", "worker")


def _outcome(parse: Callable[[], Any]) -> tuple[Any, str | None]:
    try:
        return parse(), None
    except XorbError as exc:
        message = str(exc)
        assert message and "\n" not in message, message
        return None, message


@given(TEXT)
def test_a_version_is_a_tag_and_a_git_ref_or_one_sentence(text: str) -> None:
    value, error = _outcome(lambda: inputs.version(text))
    if error is None:
        assert value == text and TAG.fullmatch(text)
        assert ".." not in text and not text.endswith(".lock")


@given(st.from_regex(r"v?[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(-rc\.[0-9])?", fullmatch=True))
def test_every_release_version_is_accepted(text: str) -> None:
    assert inputs.version(text) == text


@given(TEXT)
def test_a_registry_is_host_port_namespace_or_one_sentence(text: str) -> None:
    value, error = _outcome(lambda: inputs.registry(text))
    if error is None:
        assert isinstance(value, str) and value and not value.endswith("/")
        assert "://" not in value and not any(c.isspace() for c in value)
        host_port = value.split("/")[0]
        port = host_port.rpartition(":")[2] if not host_port.endswith("]") else ""
        if port.isdigit() and host_port.count(":") == 1:
            assert 1 <= int(port) <= 65535


@given(
    st.from_regex(
        r"[a-z]([a-z0-9-]{0,18}[a-z0-9])?(\.[a-z]([a-z0-9-]{0,8}[a-z0-9])?){0,2}", fullmatch=True
    ),
    st.integers(1, 65535),
)
def test_every_host_and_port_is_accepted(host: str, port: int) -> None:
    assert inputs.registry(f"{host}:{port}") == f"{host}:{port}"


@given(st.integers(min_value=-(10**6), max_value=10**6).filter(lambda p: not 1 <= p <= 65535))
def test_a_port_out_of_range_is_refused(port: int) -> None:
    assert _outcome(lambda: inputs.registry(f"localhost:{port}"))[1] is not None


@given(st.lists(TEXT, max_size=4))
@example(["worker=²"])  # str.isdigit() is true for it, int() refused it: a traceback once
@example(["worker=\u0661"])  # an Arabic-Indic one: int() took it as 1
def test_scale_specs_are_counts_or_one_sentence(pairs: list[str]) -> None:
    value, error = _outcome(lambda: stack.parse_scales(pairs))
    if error is None:
        assert value and all(isinstance(n, int) and n >= 0 for n in value.values())
        assert all(p.partition("=")[2].strip().isascii() for p in pairs)


@given(st.dictionaries(st.sampled_from(SERVICES), st.integers(0, 500), min_size=1))
def test_scale_specs_round_trip(wanted: dict[str, int]) -> None:
    assert stack.parse_scales(f"{k}={v}" for k, v in wanted.items()) == wanted


@given(st.lists(TEXT, max_size=4))
@example(["api=²"])
def test_budgets_are_positive_megabytes_of_known_services_or_one_sentence(
    values: list[str],
) -> None:
    value, error = _outcome(lambda: sizereport.parse_budgets(values, SERVICES))
    if error is None:
        assert set(value) <= set(SERVICES) and all(mb > 0 for mb in value.values())


@given(st.dictionaries(st.sampled_from(SERVICES), st.integers(1, 10**5), min_size=1))
def test_budgets_round_trip(budgets: dict[str, int]) -> None:
    assert sizereport.parse_budgets([f"{k}={v}" for k, v in budgets.items()], SERVICES) == budgets
