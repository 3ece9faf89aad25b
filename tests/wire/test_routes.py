"""Which requests the wire guard admits, refuses or passes through."""

from __future__ import annotations

import pytest

from costcap.wire import route


@pytest.mark.parametrize(
    ("method", "path", "api"),
    [
        ("POST", "/v1/chat/completions", "chat"),
        ("POST", "/v1/responses", "responses"),
        ("POST", "/v1/messages", "messages"),
        ("post", "/proxy/openai/v1/chat/completions", "chat"),
        ("POST", "/openai/deployments/gpt-4o/chat/completions", "chat"),
    ],
)
def test_generation_endpoints_are_guarded(method: str, path: str, api: str) -> None:
    """Chat Completions, Responses and Messages, under any prefix."""
    assert (route(method, path).action, route(method, path).api) == ("guard", api)


@pytest.mark.parametrize(
    ("path", "what"),
    [
        ("/v1/embeddings", "embeddings"),
        ("/v1/images/generations", "image"),
        ("/v1/audio/speech", "audio"),
        ("/v1/batches", "batches"),
        ("/v1/files", "file uploads"),
        ("/v1/completions", "legacy completions"),
        ("/v1/messages/batches", "message batches"),
        ("/v1/threads/thread_1/runs", "Assistants runs"),
        ("/v1/responses/compact", "compaction"),
        ("/openai/deployments/emb/embeddings", "embeddings"),
    ],
)
def test_endpoints_that_spend_unmetered_are_refused(path: str, what: str) -> None:
    """A POST that spends without a usage costcap can settle is refused, naming what it is."""
    decided = route("POST", path)
    assert decided.action == "refuse"
    assert what in decided.what


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/models"),
        ("GET", "/v1/responses/resp_1"),
        ("GET", "/v1/chat/completions"),
        ("POST", "/v1/messages/count_tokens"),
        ("POST", "/v1/responses/resp_1/cancel"),
        ("POST", "/v1/threads/thread_1/messages"),
        ("DELETE", "/v1/files/file_1"),
        ("POST", "/v1/moderations"),
    ],
)
def test_other_requests_pass_through(method: str, path: str) -> None:
    """Retrievals, counts, cancellations, free endpoints: not LLM calls."""
    assert route(method, path).action == "pass"


def test_a_refusal_is_answered_in_the_providers_format() -> None:
    """Messages refusals in Anthropic's format, every other in OpenAI's."""
    assert route("POST", "/v1/messages").flavor == "anthropic"
    assert route("POST", "/v1/chat/completions").flavor == "openai"
    assert route("POST", "/v1/embeddings").flavor == "openai"
