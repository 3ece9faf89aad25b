"""Bad input at the gateway, case by case: each answered with a 4xx in the endpoint's provider
error format (OpenAI's ``{"error": {...}}``, Anthropic's ``{"type": "error", ...}``), never a
5xx; a body costcap cannot read is refused without being sent upstream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.gateway.conftest import GatewayFactory, RunningGateway, _running

ROOMY = '[[budgets]]\nscope = "global"\nperiod = "day"\nlimit_usd = 1000\n'
GPT = "gpt-4o-mini"
CLAUDE = "claude-3-5-haiku-latest"
HI = [{"role": "user", "content": "hi"}]
#: endpoint, its provider's error format, a valid body
ENDPOINTS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "chat": ("/v1/chat/completions", "openai", {"model": GPT, "messages": HI, "max_tokens": 5}),
    "responses": ("/v1/responses", "openai", {"model": GPT, "input": "hi"}),
    "messages": ("/v1/messages", "anthropic", {"model": CLAUDE, "messages": HI, "max_tokens": 5}),
}
APIS = list(ENDPOINTS)


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """One gateway ($1,000/day) for the module's cases."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("COSTCAP_TEST_UPSTREAM_KEY", "sk-upstream-secret-never-leaves")
        env.setenv("COSTCAP_TEST_ADMIN_KEY", "admin-secret")
        with _running(tmp_path_factory.mktemp("bad-input"), budgets=ROOMY) as running:
            yield running


def post(gw: RunningGateway, path: str, content: bytes, **headers: str) -> httpx.Response:
    sent = {"authorization": f"Bearer {gw.key()}", "content-type": "application/json", **headers}
    return httpx.post(gw.base + path, content=content, headers=sent, timeout=30)


def error_of(answer: httpx.Response, flavor: str) -> dict[str, Any]:
    """The answer's error object, checked to be in ``flavor``'s format."""
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    if flavor == "anthropic":
        assert body["type"] == "error"
    else:
        assert "type" not in body
    error: dict[str, Any] = body["error"]
    assert isinstance(error["message"], str)
    assert isinstance(error["type"], str)
    return error


def refused(gw: RunningGateway, api: str, content: bytes) -> dict[str, Any]:
    """POST ``content`` to ``api``'s endpoint: a 400 in its format, nothing sent upstream;
    the error object."""
    path, flavor, _ = ENDPOINTS[api]
    served = len(gw.fp.requests)
    answer = post(gw, path, content)
    assert answer.status_code == 400, answer.text
    assert len(gw.fp.requests) == served  # refused here, not by the provider
    error = error_of(answer, flavor)
    assert error["type"] == "invalid_request_error"
    return error


def body(api: str, **changes: Any) -> bytes:
    return json.dumps({**ENDPOINTS[api][2], **changes}).encode()


# -- bodies -------------------------------------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
def test_a_valid_body_gets_through(gw: RunningGateway, api: str) -> None:
    """The control: the same endpoint and key answer a body that is fine."""
    answer = post(gw, ENDPOINTS[api][0], body(api))
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("api", APIS)
def test_malformed_json_is_a_400_in_the_provider_format(gw: RunningGateway, api: str) -> None:
    error = refused(gw, api, body(api)[:-5])
    assert "not JSON" in error["message"]


@pytest.mark.parametrize("api", APIS)
def test_an_empty_body_is_a_400(gw: RunningGateway, api: str) -> None:
    assert "not JSON" in refused(gw, api, b"")["message"]


@pytest.mark.parametrize("api", APIS)
def test_a_json_array_body_is_a_400(gw: RunningGateway, api: str) -> None:
    assert "not an object" in refused(gw, api, b"[" + body(api) + b"]")["message"]


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("model", [None, 7, ["gpt-4o-mini"], ""])
def test_a_model_that_is_not_a_name_is_a_400(gw: RunningGateway, api: str, model: Any) -> None:
    assert "names no model" in refused(gw, api, body(api, model=model))["message"]


@pytest.mark.parametrize("api", ["chat", "messages"])
def test_messages_as_a_string_is_a_400(gw: RunningGateway, api: str) -> None:
    refused(gw, api, body(api, messages="hi"))


@pytest.mark.parametrize("api", ["chat", "messages"])
def test_max_tokens_as_a_string_is_a_400(gw: RunningGateway, api: str) -> None:
    error = refused(gw, api, body(api, max_tokens="ten"))
    assert "max_tokens" in error["message"]


@pytest.mark.parametrize("cap", ["-5", "0", "1.5", "true", "1e999", "NaN", "10000000000"])
def test_max_tokens_that_is_not_a_count_is_a_400(gw: RunningGateway, cap: str) -> None:
    content = body("chat").replace(b'"max_tokens": 5', b'"max_tokens": ' + cap.encode())
    assert b'"max_tokens": ' + cap.encode() in content
    refused(gw, "chat", content)


def test_responses_input_of_the_wrong_type_is_a_400(gw: RunningGateway) -> None:
    refused(gw, "responses", body("responses", input={"a": 1}))


def test_anthropic_system_of_the_wrong_type_is_a_400(gw: RunningGateway) -> None:
    refused(gw, "messages", body("messages", system=5))


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("opener", [b"[", b'{"a":'])
def test_json_nested_10000_deep_is_a_400(gw: RunningGateway, api: str, opener: bytes) -> None:
    closer = b"]" if opener == b"[" else b"}"
    middle = b"" if opener == b"[" else b"1"
    error = refused(gw, api, opener * 10_000 + middle + closer * 10_000)
    assert "nested too deeply" in error["message"]


def with_bytes(api: str, bad: bytes) -> bytes:
    """A valid body for ``api`` with ``bad`` (not UTF-8) in a string of it."""
    content = body(api)[:-1] + b', "x": "' + bad + b'"}'
    with pytest.raises(UnicodeDecodeError):
        content.decode()
    return content


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("bad", [b"\xff", b"\xc3", b"\x80", b"\xf8\x88\x80\x80\x80"])
def test_a_body_of_invalid_utf8_is_a_400(gw: RunningGateway, api: str, bad: bytes) -> None:
    assert "not JSON" in refused(gw, api, with_bytes(api, bad))["message"]


def test_a_surrogate_encoded_in_the_body_bytes_is_a_400(gw: RunningGateway) -> None:
    path, _, _ = ENDPOINTS["chat"]
    served = len(gw.fp.requests)
    answer = post(gw, path, with_bytes("chat", b"\xed\xa0\x80"))
    assert answer.status_code == 400
    assert len(gw.fp.requests) == served  # refused here, not sent


# -- size ---------------------------------------------------------------------------------------


def padded(api: str, size: int) -> bytes:
    """A valid body for ``api`` padded to ``size`` bytes."""
    plain = body(api)
    padding = b', "padding": "' + b"x" * (size - len(plain) - 15) + b'"}'
    out = plain[:-1] + padding
    assert len(out) == size
    return out


def test_a_body_over_max_body_bytes_is_a_413_naming_the_limit(
    gateway_factory: GatewayFactory,
) -> None:
    small = gateway_factory(gateway="max_body_bytes = 2048")
    for api, (path, flavor, _) in ENDPOINTS.items():
        answer = post(small, path, padded(api, 2049))
        assert answer.status_code == 413, api
        error = error_of(answer, flavor)
        assert error["type"] == "request_too_large"
        assert "2,048 bytes" in error["message"]
        assert "max_body_bytes" in error["message"]
    assert small.fp.requests == ()


def test_a_body_of_max_body_bytes_is_read(gateway_factory: GatewayFactory) -> None:
    small = gateway_factory(gateway="max_body_bytes = 2048")
    for api, (path, _, _) in ENDPOINTS.items():
        assert post(small, path, padded(api, 2048)).status_code == 200, api


# -- paths and methods --------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_unknown_path_under_v1_is_a_404_in_json(gw: RunningGateway, method: str) -> None:
    answer = httpx.request(
        method, gw.base + "/v1/nope", headers={"authorization": f"Bearer {gw.key()}"}
    )
    assert answer.status_code == 404
    assert error_of(answer, "openai")["type"] == "not_found_error"


@pytest.mark.parametrize("path", ["/nope", "/v2/chat/completions", "/v1"])
def test_a_path_outside_v1_is_a_404_in_json(gw: RunningGateway, path: str) -> None:
    answer = httpx.post(gw.base + path, content=body("chat"))
    assert answer.status_code == 404
    error = error_of(answer, "openai")
    assert error["type"] == "not_found_error"
    assert path in error["message"]


def test_get_on_chat_completions_is_a_4xx_in_json_not_a_5xx(gw: RunningGateway) -> None:
    answer = httpx.get(
        gw.base + "/v1/chat/completions", headers={"authorization": f"Bearer {gw.key()}"}
    )
    assert 400 <= answer.status_code < 500
    error_of(answer, "openai")


@pytest.mark.parametrize(("method", "api"), [("PUT", "messages"), ("DELETE", "responses")])
def test_another_method_on_a_guarded_endpoint_is_a_4xx_in_its_format(
    gw: RunningGateway, method: str, api: str
) -> None:
    path, flavor, _ = ENDPOINTS[api]
    answer = httpx.request(method, gw.base + path, headers={"authorization": f"Bearer {gw.key()}"})
    assert 400 <= answer.status_code < 500
    error_of(answer, flavor)


def test_a_nul_in_the_path_is_a_400_not_a_500(gw: RunningGateway) -> None:
    answer = httpx.post(
        httpx.URL(gw.base + "/v1/chat/completions%00"), content=body("chat"),
        headers={"authorization": f"Bearer {gw.key()}"},
    )  # fmt: skip
    assert answer.status_code == 400
    assert "cannot be forwarded" in error_of(answer, "openai")["message"]


# -- headers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "auth",
    [{}, {"authorization": "Basic abc"}, {"authorization": "Bearer"}, {"x-api-key": "nope"}],
)
@pytest.mark.parametrize("api", APIS)
def test_a_missing_or_bad_key_is_a_401_in_the_endpoint_format(
    gw: RunningGateway, api: str, auth: dict[str, str]
) -> None:
    path, flavor, _ = ENDPOINTS[api]
    answer = httpx.post(gw.base + path, content=body(api), headers=auth)
    assert answer.status_code == 401
    assert error_of(answer, flavor)["type"] == "authentication_error"


def test_a_wrong_content_type_does_not_matter(gw: RunningGateway) -> None:
    """The body is read as JSON whatever its content-type says."""
    answer = post(gw, "/v1/chat/completions", body("chat"), **{"content-type": "text/plain"})
    assert answer.status_code == 200


def test_a_user_header_with_control_and_latin1_bytes_is_not_a_5xx(gw: RunningGateway) -> None:
    headers = {
        b"authorization": f"Bearer {gw.key()}".encode(),
        b"x-costcap-user": b"a\tb\x85\xff",
        b"x-costcap-feature": b"\xc3(",
    }
    answer = httpx.post(gw.base + "/v1/chat/completions", content=body("chat"), headers=headers)
    assert answer.status_code == 200
