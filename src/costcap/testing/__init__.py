"""A fake LLM provider speaking the OpenAI and Anthropic wire formats, for tests and demos.

It never reaches a real provider. It serves, faithfully to the real APIs (JSON bodies, SSE event
sequences, usage objects, error bodies, status codes, ``retry-after``)::

    POST /v1/chat/completions   OpenAI Chat Completions (stream, stream_options.include_usage)
    POST /v1/responses          OpenAI Responses (stream: response.created … response.completed)
    POST /v1/messages           Anthropic Messages (stream: message_start … message_stop)
    POST /v1/messages/count_tokens  Anthropic's token count of a Messages request (not billed)
    GET  /v1/models             OpenAI list shape; Anthropic shape when anthropic-version is sent

The usage it reports is counted by :mod:`costcap.tokens` (input: ``count_messages`` of the
request; output: ``count_text`` of the generated text, which is ``" hello"`` repeated, one token
per word under o200k/cl100k, or of a tool call's name plus ``count_text`` of its arguments), so
what the client received and what was billed always agree.
Every request is recorded as a :class:`ServedRequest` (``fp.requests``, ``fp.reset()``,
``fp.billed_output_tokens()``) so tests can compare what was billed with what costcap logged.

Use it::

    with run_fake_provider() as fp:                      # uvicorn on 127.0.0.1, a free port
        client = openai.OpenAI(base_url=fp.openai_base_url, api_key="test")
        anthropic_client = anthropic.Anthropic(base_url=fp.anthropic_base_url, api_key="test")

or build the ASGI app with :func:`create_fake_provider` and serve ``.app`` any way you like.

Knobs — per request by header (wins), by a marker anywhere in the prompt (token knobs only),
else by :class:`FakeProviderConfig`:

=========================== ================================= ======================================
Header                      Marker / config field             Effect
=========================== ================================= ======================================
``x-fake-output-tokens``    ``[[fake:output_tokens=N]]``      Output length in tokens (default 20),
                            ``output_tokens``                 always capped by ``max_tokens`` /
                                                              ``max_completion_tokens`` /
                                                              ``max_output_tokens``; when capped the
                                                              reason is ``length`` / ``max_tokens``
                                                              / ``incomplete``.
``x-fake-cached-tokens``    ``[[fake:cached_tokens=N]]``      Prompt tokens read from the cache
                            ``cached_tokens``                 (capped by the prompt's count).
``x-fake-cache-write-tokens`` ``[[fake:cache_write_tokens=N]]`` Prompt tokens written to the cache
                            ``cache_write_tokens``            (Anthropic ``cache_creation_…``).
``x-fake-latency-ms``       ``latency_ms``                    Delay before the first byte.
``x-fake-chunk-delay-ms``   ``chunk_delay_ms``                Delay before each streamed content
                                                              chunk.
``x-fake-error``            ``error``                         Answer with this status (400, 401,
                                                              403, 404, 408, 409, 429, 500, 502,
                                                              503, 529) in the provider's error
                                                              format; 429 carries ``retry-after``
                                                              and ``retry-after-ms``.
``x-fake-fail-times``       ``fail_times``                    Fail only the first K attempts (with
                                                              ``x-fake-error``'s status, else 429),
                                                              counted per ``x-fake-request-key``
                                                              (unkeyed requests share one counter);
                                                              then succeed: SDK retries work.
``x-fake-request-key``      —                                 Names the request for fail-times.
``x-fake-retry-after-ms``   ``retry_after_ms``                The 429's retry delay (default 1000).
``x-fake-disconnect-after`` ``disconnect_after``              Drop the connection after N content
                                                              chunks of a stream (the client sees
                                                              a broken body; the N chunks are
                                                              billed). A tool call's first chunk
                                                              is the event carrying its name.
``x-fake-tool-call``        ``tool_call``                     Answer with a call of this tool
                                                              (``auto``: the first the request
                                                              offers) when the request offers it,
                                                              holds no tool result yet (chat: a
                                                              ``tool`` message; Responses: a
                                                              ``function_call_output`` item;
                                                              Anthropic: a ``tool_result`` block)
                                                              and the cap leaves room for its name
                                                              and arguments; else the text answer.
                                                              ``tool_choice: none`` forbids it.
``x-fake-tool-args``        —                                 The call's arguments, a JSON object
                                                              sent verbatim (default: made from
                                                              the tool's schema).
``x-fake-thinking-tokens``  ``[[fake:thinking_tokens=N]]``    Think this long first (default 0):
                            ``thinking_tokens``               Anthropic, when the request enables
                                                              ``thinking``: a signed ``thinking``
                                                              block; Responses, when it has
                                                              ``reasoning``: a ``reasoning`` item
                                                              (summary text if it asks one) and
                                                              ``reasoning_tokens``; chat: only
                                                              ``reasoning_tokens``. Within the
                                                              output tokens and the cap.
``x-fake-service-tier``     —                                 Serve (and report) this tier whatever
                                                              the request asked: OpenAI
                                                              ``service_tier``; Anthropic
                                                              ``service_tier`` in usage, ``fast``
                                                              for fast mode (``speed``). Without
                                                              it the request's tier is echoed
                                                              (OpenAI ``auto`` → ``default``,
                                                              ``fast`` → ``priority``).
—                           ``word``                          The output word (``" hello"``).
—                           ``models``                        What ``GET /v1/models`` lists.
=========================== ================================= ======================================

Tool calls: the arguments are made from the tool's JSON schema — each required property (every
property when none is required) by its type: string ``"hello"``, integer and number ``1``,
boolean ``true``, array ``[]``, object: its own properties the same way, enum: its first value.
A call is billed as ``count_text(name, model) + count_text(arguments, model)`` output tokens: the
model generates the tool's name as it does the arguments. A cap (``max_tokens``) below that
count (plus any thinking) answers the usual text, cut at the cap, instead. A stream sends the
name first — chat: in the first ``tool_calls`` delta; Responses: in the ``function_call`` item of
``response.output_item.added``; Anthropic: in the ``tool_use`` block of ``content_block_start``
— then the arguments in pieces of about a token each.

A client that goes away mid-stream stops the generation; the record bills what was sent up to
then (``disconnect="client"``): the text, thinking or argument pieces that went out, counted
with ``count_text``, and a tool call's name once the event carrying it went out. Any model
name is accepted. ``n`` (chat) is ignored: one choice.
A malformed JSON body, a bad ``x-fake-*`` value or a missing required field is a 400 in the
provider's format (Anthropic also requires ``max_tokens``, as the real API does).
"""

from __future__ import annotations

from costcap.testing._app import FakeProvider, create_fake_provider
from costcap.testing._config import DEFAULT_MODELS, FakeProviderConfig
from costcap.testing._record import Endpoint, ServedRequest
from costcap.testing._server import (
    FakeProviderServer,
    run_fake_provider,
    run_fake_provider_async,
    serve_asgi,
    serve_fake_provider,
)

__all__ = [
    "DEFAULT_MODELS",
    "Endpoint",
    "FakeProvider",
    "FakeProviderConfig",
    "FakeProviderServer",
    "ServedRequest",
    "create_fake_provider",
    "run_fake_provider",
    "run_fake_provider_async",
    "serve_asgi",
    "serve_fake_provider",
]
