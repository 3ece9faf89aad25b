"""The fake provider: a Starlette app plus the record of every request it served."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from costcap.testing._answer import plan_answer
from costcap.testing._anthropic import AnthropicMessages
from costcap.testing._config import FakeProviderConfig, InvalidKnob, Knobs, resolve_knobs
from costcap.testing._errors import ApiError, error_response, injected_error
from costcap.testing._exchange import Api, Exchange, Parsed, new_id
from costcap.testing._openai_chat import OpenAIChat
from costcap.testing._openai_responses import OpenAIResponses
from costcap.testing._output import TokenAccounting
from costcap.testing._record import CREDENTIAL_DIGEST, RECORDED_HEADERS, RequestLog, ServedRequest
from costcap.testing._sse import SSEResponse, StreamOutcome

__all__ = ["FakeProvider", "create_fake_provider"]

#: The fail-first-K counter of requests that send no ``x-fake-request-key``.
_UNKEYED = "*"


def _credential(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key")


class FakeProvider:
    """The fake provider's ASGI app (``.app``) and the record of what it served and billed.

    Build one with :func:`create_fake_provider`; serve it with :func:`run_fake_provider` or any
    ASGI server. The record is thread-safe: tests read it while the server thread writes it.
    """

    def __init__(self, config: FakeProviderConfig | None = None) -> None:
        self.config = config if config is not None else FakeProviderConfig()
        self._log = RequestLog()
        self._accounting = TokenAccounting(self.config.word)
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._endpoint(OpenAIChat()), methods=["POST"]),
                Route("/v1/responses", self._endpoint(OpenAIResponses()), methods=["POST"]),
                Route("/v1/messages", self._endpoint(AnthropicMessages()), methods=["POST"]),
                Route("/v1/messages/count_tokens", self._count_tokens, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )

    # -- the record ------------------------------------------------------------------------

    @property
    def requests(self) -> tuple[ServedRequest, ...]:
        """Every request served since creation or the last :meth:`reset`, oldest first."""
        return self._log.snapshot()

    @property
    def last(self) -> ServedRequest:
        """The most recent request served (``LookupError`` if none)."""
        served = self._log.snapshot()
        if not served:
            raise LookupError("the fake provider has served no request yet")
        return served[-1]

    def reset(self) -> None:
        """Forget every served request and every fail-first-K counter."""
        self._log.clear()

    def billed_input_tokens(self, *, model: str | None = None) -> int:
        """Input tokens billed (cached and cache-write ones included), optionally for one model."""
        return sum(r.input_tokens for r in self._log.snapshot() if model in (None, r.model))

    def billed_output_tokens(self, *, model: str | None = None) -> int:
        """Output tokens billed, partial streams included, optionally for one model."""
        return sum(r.output_tokens for r in self._log.snapshot() if model in (None, r.model))

    def billed_cached_tokens(self, *, model: str | None = None) -> int:
        """Input tokens billed as prompt-cache reads, optionally for one model."""
        return sum(r.cached_tokens for r in self._log.snapshot() if model in (None, r.model))

    # -- serving ---------------------------------------------------------------------------

    async def _count_tokens(self, request: Request) -> Response:
        """Anthropic's ``count_tokens``: the input a Messages request would be billed, free
        (not recorded: nothing is billed)."""
        request_id = new_id("req_")
        api = AnthropicMessages()
        try:
            body = {"max_tokens": 1, **_json_object(await request.body())}  # it takes none
            _check_model(body.get("model"))
            try:
                parsed = api.parse(body, self._accounting)
            except (TypeError, ValueError, LookupError, AttributeError, RecursionError) as exc:
                raise ApiError(400, f"messages: cannot be counted ({exc})") from None
        except ApiError as exc:
            return error_response(exc, api.flavor, request_id)
        return JSONResponse({"input_tokens": parsed.input_tokens},
                            headers={"request-id": request_id})  # fmt: skip

    def _endpoint(self, api: Api) -> Any:
        async def endpoint(request: Request) -> Response:
            return await self._serve(request, api)

        return endpoint

    async def _serve(self, request: Request, api: Api) -> Response:
        started = time.time()
        request_id = new_id("req_")
        response_id = new_id(api.id_prefix)
        headers = {k: v for k, v in request.headers.items() if k in RECORDED_HEADERS}
        credential = _credential(request)
        if credential is not None:
            headers[CREDENTIAL_DIGEST] = hashlib.sha256(credential.encode()).hexdigest()
        base: dict[str, Any] = {
            "id": response_id,
            "request_id": request_id,
            "endpoint": api.endpoint,
            "started_at": started,
            "headers": headers,
        }
        raw = await request.body()
        model: str | None = None
        stream = False
        try:
            try:
                knobs = resolve_knobs(self.config, request.headers, raw)
            except InvalidKnob as exc:
                raise ApiError(400, str(exc), param=exc.header) from None
            base["request_key"] = knobs.request_key
            body = _json_object(raw)
            model = body.get("model") if isinstance(body.get("model"), str) else None
            stream = body.get("stream") is True
            if knobs.latency_ms:
                await anyio.sleep(knobs.latency_ms / 1000)
            base["attempt"] = attempt = self._attempt(knobs)
            failing = attempt <= knobs.fail_times if knobs.fail_times else knobs.error is not None
            if failing:
                status = knobs.error or 429
                raise injected_error(status, retry_after_ms=knobs.retry_after_ms)
            _check_model(model)
            parsed = api.parse(body, self._accounting)
        except ApiError as exc:
            self._log.append(
                ServedRequest(
                    **base,
                    model=model,
                    stream=stream,
                    status_code=exc.status,
                    error=f"{exc.error_type(api.flavor)}: {exc.message}",
                    injected=exc.injected,
                    finished_at=time.time(),
                )
            )
            return error_response(exc, api.flavor, request_id)

        exchange = self._exchange(response_id, parsed, knobs)
        response_headers = {"x-request-id" if api.flavor == "openai" else "request-id": request_id}
        base.update(
            model=parsed.model,
            stream=parsed.stream,
            input_tokens=parsed.input_tokens,
            cached_tokens=exchange.cached_tokens,
            cache_write_tokens=exchange.cache_write_tokens,
            service_tier=exchange.service_tier,
            tool_calls=(exchange.answer.tool_call.name,) if exchange.answer.tool_call else (),
        )
        if not parsed.stream:
            rendered = api.render(exchange)
            self._log.append(
                ServedRequest(
                    **base,
                    status_code=200,
                    output_tokens=exchange.answer.tokens,
                    output_text=exchange.text,
                    thinking_tokens=exchange.answer.thinking_tokens,
                    finish_reason=rendered.finish_reason,
                    usage=rendered.usage,
                    finished_at=time.time(),
                )
            )
            return JSONResponse(rendered.body, headers=response_headers)

        streamed = api.stream(exchange)

        def on_finish(outcome: StreamOutcome) -> None:
            complete = outcome.completed
            sent = streamed.sent(outcome.units_sent)
            self._log.append(
                ServedRequest(
                    **base,
                    status_code=200,
                    output_tokens=sent.tokens,
                    output_text=sent.text,
                    thinking_tokens=sent.thinking_tokens,
                    finish_reason=streamed.finish_reason if complete else None,
                    usage=streamed.usage if complete else None,
                    disconnect=outcome.disconnect,
                    finished_at=time.time(),
                )
            )

        return SSEResponse(
            streamed.events,
            headers=response_headers,
            chunk_delay_s=knobs.chunk_delay_ms / 1000,
            disconnect_after=knobs.disconnect_after,
            on_finish=on_finish,
        )

    def _attempt(self, knobs: Knobs) -> int:
        """The 1-based attempt number of a fail-times request (1 without fail-times)."""
        if knobs.fail_times == 0:
            return 1
        return self._log.next_attempt(knobs.request_key or _UNKEYED)

    def _exchange(self, response_id: str, parsed: Parsed, knobs: Knobs) -> Exchange:
        cached = min(knobs.cached_tokens, parsed.input_tokens)
        written = min(knobs.cache_write_tokens, parsed.input_tokens - cached)
        answer = plan_answer(
            self._accounting,
            model=parsed.model,
            cap=parsed.cap,
            output_tokens=knobs.output_tokens,
            thinking_tokens=knobs.thinking_tokens,
            thinking=parsed.thinking,
            tool=knobs.tool_call,
            tool_args=knobs.tool_args,
            tools=parsed.tools,
            tool_result=parsed.tool_result,
        )
        return Exchange(
            id=response_id,
            created=int(time.time()),
            parsed=parsed,
            cached_tokens=cached,
            cache_write_tokens=written,
            answer=answer,
            service_tier=knobs.service_tier or parsed.options.get("served_tier", "default"),
        )

    async def _models(self, request: Request) -> Response:
        started = time.time()
        anthropic = "anthropic-version" in request.headers
        if anthropic:
            data: list[dict[str, Any]] = [
                {
                    "type": "model",
                    "id": model,
                    "display_name": model,
                    "created_at": "2025-01-01T00:00:00Z",
                    "lifecycle": "active",
                }
                for model in self.config.models
            ]
            ids = [m["id"] for m in data]
            body: dict[str, Any] = {
                "data": data,
                "has_more": False,
                "first_id": ids[0] if ids else None,
                "last_id": ids[-1] if ids else None,
            }
        else:
            owner = "costcap-fake"
            body = {
                "object": "list",
                "data": [
                    {"id": model, "object": "model", "created": 1735689600, "owned_by": owner}
                    for model in self.config.models
                ],
            }
        self._log.append(
            ServedRequest(
                id="",
                request_id=new_id("req_"),
                endpoint="models",
                model=None,
                stream=False,
                status_code=200,
                started_at=started,
                finished_at=time.time(),
                headers={k: v for k, v in request.headers.items() if k in RECORDED_HEADERS},
            )
        )
        return JSONResponse(body)


def _check_model(model: object) -> None:
    """A model name that is not valid Unicode (a lone surrogate) names no model: 404, as the
    providers answer an unknown model (it could not be echoed in UTF-8 either)."""
    if isinstance(model, str) and not model.isascii():
        try:
            model.encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError(404, "The model does not exist.", code="model_not_found") from None


def _json_object(raw: bytes) -> Mapping[str, Any]:
    try:
        body = json.loads(raw)
    except RecursionError:
        raise ApiError(400, "The JSON body of your request is nested too deeply.",
                       code="invalid_json") from None  # fmt: skip
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(
            400,
            f"We could not parse the JSON body of your request: {exc}.",
            code="invalid_json",
        ) from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.", code="invalid_json")
    return body


def create_fake_provider(config: FakeProviderConfig | None = None) -> FakeProvider:
    """A new fake provider (its own app and record; nothing shared between instances)."""
    return FakeProvider(config)
