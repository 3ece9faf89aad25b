"""Fuzzing the gateway's HTTP API with hypothesis: request shapes valid-ish and broken (every
field of the wrong type, bodies that are not JSON, not UTF-8, nested 10,000 deep; random methods,
paths and headers), sent over a raw socket so that no client tidies them on the way.

Whatever comes in, the gateway answers without a 5xx and without a traceback, and every 4xx
under ``/v1`` is JSON in the provider's error format (OpenAI's for Chat Completions and
Responses, Anthropic's for Messages). One gateway with a roomy budget serves the examples of
every test; another, with tiny budgets and a rate limit, makes refusals (402, 429) common.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, unquote

import h11
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.gateway.conftest import RunningGateway, _running

Flavor = Literal["openai", "anthropic"]
Headers = list[tuple[bytes, bytes]]

ROOMY = '[[budgets]]\nscope = "global"\nperiod = "day"\nlimit_usd = 1000\n'
TIGHT = '[[budgets]]\nscope = "global"\nperiod = "day"\nlimit_usd = 0.002\n'
GPT = "gpt-4o-mini"
CLAUDE = "claude-3-5-haiku-latest"
#: What an answer must never show: a traceback, or the ASGI server's own 500 page.
FORBIDDEN = (b"Traceback", b'File "', b"Internal Server Error")
#: How deep the "deep" bodies nest: well past what Python's json reads (about 1,000 levels).
#: Depths just under that limit are tested apart (test_tools_nested_near_the_recursion_limit_…):
#: the fake provider behind the gateway fails on some of those itself.
DEEP = (5_000, 10_000, 50_000)
HI = [{"role": "user", "content": "hi"}]
DEEP_MARK = "@deep@"  # where a body's deep nesting goes
#: Anthropic's endpoints the wire guard refuses as unmetered.


def fuzz(examples: int) -> settings:
    """Bounded: ``examples`` requests, no deadline (a request takes what it takes)."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# -- the gateways -------------------------------------------------------------------------------


@dataclass
class Target:
    """A running gateway and the credentials the fuzz sends it."""

    gw: RunningGateway
    key: str  # a usable virtual key
    revoked: str  # a revoked one
    spare: str | None = None  # another usable key, without the first one's rate limit
    statuses: list[int] = field(default_factory=list)  # every status answered, in order

    @property
    def port(self) -> int:
        return int(self.gw.base.rsplit(":", 1)[1])


def _serve(
    tmp_path_factory: pytest.TempPathFactory,
    toml: str,
    spare: dict[str, Any] | None = None,
    **key: Any,
) -> Iterator[Target]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("COSTCAP_TEST_UPSTREAM_KEY", "sk-upstream-secret-never-leaves")
        env.setenv("COSTCAP_TEST_ADMIN_KEY", "admin-secret")
        with _running(tmp_path_factory.mktemp("fuzz"), budgets=toml) as gw:
            revoked = gw.key()
            gw.keys.revoke(gw.made[-1].id)
            usable = gw.key(**key)
            yield Target(gw, usable, revoked, None if spare is None else gw.key(**spare))


@pytest.fixture(scope="module")
def roomy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """A gateway with a $1,000/day budget: refusals are the request's fault, never money's."""
    yield from _serve(tmp_path_factory, ROOMY)


@pytest.fixture(scope="module")
def tight(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """A gateway with $0.002/day in all, a key with $0.001/day and 3 requests a minute, and a
    spare key with $0.001/day and no limit (once the first key's 3 requests are gone, every
    request on it is a 429, whatever it costs: the spare key keeps budget refusals coming)."""
    yield from _serve(
        tmp_path_factory,
        TIGHT,
        spare={"budgets": ("$0.001/day",)},
        budgets=("$0.001/day",),
        limits=("3/minute",),
    )


# -- sending ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    method: str
    target: str  # the request line's target, as sent (percent-encoded)
    headers: Headers
    body: bytes
    chunk: int = 0  # > 0: the body goes chunked, in pieces of this size

    @property
    def path(self) -> str:
        """The path the gateway sees (decoded, without the query)."""
        return unquote(self.target.partition("?")[0])

    def names(self) -> set[bytes]:
        return {name.lower() for name, _ in self.headers}

    def __repr__(self) -> str:
        body = self.body if len(self.body) <= 2000 else self.body[:2000] + b"..."
        return (
            f"Request({self.method} {self.target} {self.headers!r} {body!r} ({len(self.body)} B))"
        )

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis prints this
        printer.text(repr(self))


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


def send(port: int, request: Request) -> Answer:
    """``request`` sent as it is over a new connection, and its answer read by its framing (not
    to the connection's end: a server that answers before reading the whole body must not have
    the connection closed under it, or the client would see a reset, not the answer)."""
    body = request.body
    framing = f"content-length: {len(body)}".encode()
    if request.chunk:
        size = request.chunk if len(body) < 5000 else max(request.chunk, 4096)
        pieces = [body[i : i + size] for i in range(0, len(body), size)]
        body = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"
        framing = b"transfer-encoding: chunked"
    head = [
        f"{request.method} {request.target} HTTP/1.1".encode(),
        b"host: 127.0.0.1",
        framing,
        *(name + b": " + value for name, value in request.headers),
    ]
    reader = h11.Connection(h11.CLIENT)  # reads the answer; the request went out unchecked
    reader.send(h11.Request(method=request.method, target="/", headers=[("host", "x")]))
    reader.send(h11.EndOfMessage())
    status, headers, answer = 0, {}, bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"\r\n".join(head) + b"\r\n\r\n" + body)
        while True:
            event = reader.next_event()
            if event is h11.NEED_DATA:
                reader.receive_data(sock.recv(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
                headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in event.headers}
            elif isinstance(event, h11.Data):
                answer += event.data
            elif isinstance(event, h11.EndOfMessage):
                return Answer(status, headers, bytes(answer))


# -- what every answer must be ------------------------------------------------------------------


def expected_flavor(request: Request) -> Flavor | None:
    """The error format ``request``'s 4xx must be in (None: either). The path decides; another
    path than the APIs' goes to Anthropic with Anthropic's ``anthropic-version`` header."""
    path = request.path
    if path.startswith("/v1/messages"):
        return "anthropic"
    if path.startswith(("/v1/chat/completions", "/v1/responses")):
        return "openai"
    if path.startswith("/v1/models"):
        return "anthropic" if b"anthropic-version" in request.names() else "openai"
    return None


def assert_error_body(body: bytes, flavor: Flavor | None, where: str) -> None:
    try:
        parsed = json.loads(body)
    except ValueError:
        pytest.fail(f"a 4xx whose body is not JSON: {where}")
    assert isinstance(parsed, dict), where
    error = parsed.get("error")
    assert isinstance(error, dict), where
    assert isinstance(error.get("message"), str), where
    assert isinstance(error.get("type"), str), where
    anthropic = parsed.get("type") == "error"
    if flavor is not None:
        assert anthropic == (flavor == "anthropic"), f"not in {flavor}'s format: {where}"


def check(target: Target, request: Request) -> Answer:
    """Send ``request`` and hold its answer to the rules; the answer."""
    answer = send(target.port, request)
    target.statuses.append(answer.status)
    where = f"{request!r} -> {answer.status} {answer.headers} {answer.body[:500]!r}"
    assert answer.status < 500, f"a 5xx: {where}"
    shown = answer.body + repr(answer.headers).encode()
    for text in FORBIDDEN:
        assert text not in shown, f"{text!r} in the answer: {where}"
    if request.method == "HEAD" or not 400 <= answer.status < 500:
        return answer
    if request.path.startswith("/v1/"):
        assert_error_body(answer.body, expected_flavor(request), where)
    elif answer.status == 404:
        assert_error_body(answer.body, "openai", where)
    return answer


def assert_still_ready(target: Target) -> None:
    """After a fuzz: the gateway is ready (store, ledger, keys) and its ledger writes."""
    answer = send(target.port, Request("GET", "/readyz", [], b""))
    assert answer.status == 200, answer.body
    target.gw.flush_ledger()
    state = target.gw.app.state
    assert state is not None
    assert state.ledger is not None
    assert not state.ledger.failing


def fuzzed(target: Target, request: Request) -> None:
    check(target, request)


# -- strategies: values -------------------------------------------------------------------------

#: Any JSON scalar Python's json writes: NaN and ±Infinity, huge integers, lone surrogates.
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(),
    st.text(st.characters(), max_size=12),
)
GARBAGE = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=10,
)
#: Caps: fine ones, and every wrong kind.
CAPS = st.one_of(
    st.integers(min_value=1, max_value=64),
    st.integers(),
    st.sampled_from([0, -1, 10**9, 10**9 + 1, 10**30, 1.5, -0.0, True, False, "ten", "10", None]),
    st.floats(),
    GARBAGE,
)
TEXT = st.text(st.characters(), max_size=20)


def models(*good: str) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(good),
        st.sampled_from(["", "\ud800", "gpt-4o-mini\x00", "nope-model", "m" * 20_000, 7, None]),
        GARBAGE,
    )


CHAT_MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "system", "assistant", "developer", "tool"])},
    optional={
        "content": st.one_of(
            TEXT,
            st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": TEXT}), max_size=2),
            GARBAGE,
        ),
        "name": GARBAGE,
        "tool_calls": GARBAGE,
    },
)
CHAT_MESSAGES = st.one_of(st.just(HI), st.lists(CHAT_MESSAGE, max_size=3), GARBAGE, TEXT)
CHAT_TOOLS = st.one_of(
    st.just([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]),
    st.lists(st.fixed_dictionaries({"type": st.just("function"), "function": GARBAGE}), max_size=2),
    GARBAGE,
)
CLAUDE_MESSAGE = st.fixed_dictionaries(
    {"role": st.one_of(st.sampled_from(["user", "assistant"]), GARBAGE)},
    optional={
        "content": st.one_of(
            TEXT,
            st.lists(
                st.fixed_dictionaries(
                    {"type": st.sampled_from(["text", "image", "tool_use", "tool_result", "?"])},
                    optional={"text": GARBAGE, "source": GARBAGE, "input": GARBAGE},
                ),
                max_size=2,
            ),
            GARBAGE,
        )
    },
)
CLAUDE_MESSAGES = st.one_of(st.just(HI), st.lists(CLAUDE_MESSAGE, max_size=3), GARBAGE)
CLAUDE_TOOLS = st.one_of(
    st.just([{"name": "f", "input_schema": {"type": "object"}}]),
    st.lists(st.fixed_dictionaries({"name": GARBAGE, "input_schema": GARBAGE}), max_size=2),
    GARBAGE,
)


def bodies(api: str) -> st.SearchStrategy[dict[str, Any]]:
    """Request bodies for ``api``: a valid one (often) or one with fields of any type."""
    if api == "chat":
        valid: dict[str, Any] = {"model": GPT, "messages": HI, "max_tokens": 8}
        fields: dict[str, st.SearchStrategy[Any]] = {
            "model": models(GPT, "gpt-4o"),
            "messages": CHAT_MESSAGES,
        }
        optional = {
            "max_tokens": CAPS, "max_completion_tokens": CAPS, "n": CAPS,
            "stream": st.one_of(st.booleans(), GARBAGE), "stream_options": GARBAGE,
            "tools": CHAT_TOOLS, "tool_choice": GARBAGE, "service_tier": GARBAGE,
            "user": GARBAGE, "metadata": GARBAGE,
        }  # fmt: skip
    elif api == "responses":
        valid = {"model": GPT, "input": "hi", "max_output_tokens": 16}
        fields = {"model": models(GPT), "input": st.one_of(TEXT, CHAT_MESSAGES, GARBAGE)}
        optional = {
            "instructions": st.one_of(TEXT, GARBAGE), "max_output_tokens": CAPS,
            "stream": st.one_of(st.booleans(), GARBAGE), "tools": GARBAGE,
            "background": st.one_of(st.booleans(), GARBAGE), "service_tier": GARBAGE,
            "reasoning": GARBAGE,
        }  # fmt: skip
    else:  # Anthropic Messages and count_tokens
        valid = {"model": CLAUDE, "messages": HI, "max_tokens": 8}
        fields = {"model": models(CLAUDE), "messages": CLAUDE_MESSAGES, "max_tokens": CAPS}
        optional = {
            "system": st.one_of(
                TEXT, st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": GARBAGE})),
                GARBAGE,
            ),
            "stream": st.one_of(st.booleans(), GARBAGE), "tools": CLAUDE_TOOLS,
            "tool_choice": GARBAGE, "speed": st.one_of(st.just("fast"), GARBAGE),
            "metadata": st.one_of(st.fixed_dictionaries({"user_id": GARBAGE}), GARBAGE),
            "thinking": GARBAGE,
        }  # fmt: skip
    fuzzed = st.fixed_dictionaries(fields, optional=optional)
    valid_ones = st.booleans().map(lambda stream: {**valid, "stream": stream})
    return st.integers(0, 2).flatmap(lambda roll: valid_ones if roll == 0 else fuzzed)


# -- strategies: bytes on the wire --------------------------------------------------------------


def _json(obj: Any, ascii_only: bool) -> bytes:
    text = json.dumps(obj, ensure_ascii=ascii_only)
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate: bytes that are not UTF-8


def _deep(depth: int, opener: str) -> bytes:
    closer = {"[": "]", '{"a":': "}"}[opener]
    middle = "1" if opener != "[" else ""
    return (opener * depth + middle + closer * depth).encode()


@st.composite
def encoded(draw: st.DrawFn, objects: st.SearchStrategy[Any]) -> bytes:
    """``objects`` as bytes, or broken on the way: cut short, not UTF-8, not JSON, nested
    beyond reading, odd number literals, duplicate keys."""
    obj = draw(objects)
    kinds = ["json", "json", "json", "ascii", "cut", "bad-utf8", "binary", "empty", "numbers"]
    kinds += ["duplicate", "array", "deep", "deep-field"]
    kind = draw(st.sampled_from(kinds))
    if kind in ("json", "ascii"):
        return _json(obj, kind == "ascii")
    raw = _json(obj, ascii_only=False)
    if kind == "cut":
        return raw[: draw(st.integers(0, max(0, len(raw) - 1)))]
    if kind == "bad-utf8":
        at = draw(st.integers(0, len(raw)))
        return (
            raw[:at]
            + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80"]))
            + raw[at:]
        )
    if kind == "binary":
        return draw(st.binary(max_size=64))
    if kind == "empty":
        return draw(st.sampled_from([b"", b" ", b"null", b"{}", b"[]", b'""', b"0"]))
    if kind == "numbers":
        literal = draw(st.sampled_from(["1e999", "-1e999", "-0", "NaN", "Infinity", "-Infinity",
                                        "1" * 5000, "0.1e-999", "1E400"]))  # fmt: skip
        name = draw(st.sampled_from(["max_tokens", "max_output_tokens", "n", "temperature"]))
        if isinstance(obj, dict):
            rest = _json(obj, ascii_only=True)[1:].decode()
            return f'{{"{name}": {literal}, {rest}'.replace(", }", "}").encode()
        return literal.encode()
    if kind == "duplicate" and isinstance(obj, dict) and obj:
        name = draw(st.sampled_from(sorted(obj)))
        first = _json({name: draw(GARBAGE)}, ascii_only=True)[1:-1]
        return b"{" + first + b"," + raw[1:]
    if kind == "array":
        return b"[" + raw + b"]"
    depth = draw(st.sampled_from(DEEP))
    nested = _deep(depth, draw(st.sampled_from(["[", '{"a":'])))
    if kind == "deep-field" and isinstance(obj, dict):
        name = draw(st.sampled_from(["messages", "tools", "input", "system", "metadata"]))
        return _json({**obj, name: 0}, ascii_only=True).replace(
            f'"{name}": 0'.encode(), f'"{name}": '.encode() + nested
        )
    return nested


# -- strategies: methods, paths, headers --------------------------------------------------------

#: Header values as they can travel: tab, printable ASCII and obs-text bytes.
WIRE_VALUE = st.binary(max_size=40).map(
    lambda raw: bytes(b for b in raw if b == 9 or 32 <= b < 127 or b >= 128).strip()
)
TOKEN = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_!#$%&'*+.^`|~", min_size=1, max_size=20)


@st.composite
def auth(draw: st.DrawFn, target: Target) -> Headers:
    """Most often a usable key (Bearer or x-api-key), else none, a revoked or a broken one."""
    usable = [target.key] if target.spare is None else [target.key, target.spare]
    key = draw(st.sampled_from(usable)).encode()
    roll = draw(st.integers(0, 9))
    if roll < 6:
        return [(b"authorization", b"Bearer " + key)]
    if roll == 6:
        return [(b"x-api-key", key)]
    broken = [
        [], [(b"authorization", b"Bearer")], [(b"authorization", b"Bearer ")],
        [(b"authorization", b"Basic " + key)], [(b"authorization", b"Bearer " + key + b"x")],
        [(b"authorization", key)], [(b"authorization", b"Bearer " + target.revoked.encode())],
        [(b"x-api-key", b" ")], [(b"authorization", b"Bearer sk-cc-" + b"A" * 300)],
    ]  # fmt: skip
    return draw(
        st.one_of(
            st.sampled_from(broken),
            WIRE_VALUE.map(lambda value: [(b"authorization", value)]),
            WIRE_VALUE.map(lambda value: [(b"x-api-key", value)]),
        )
    )


CONTENT_TYPES = [
    b"application/json", b"text/plain", b"multipart/form-data",
    b"application/x-www-form-urlencoded", b"application/json; charset=latin-1",
]  # fmt: skip
#: Header names a random one must not be: the framing (sent apart) and the fake provider's knobs
#: (x-fake-error injects a 5xx on purpose).
RESERVED = ("x-fake", "content-length", "transfer-encoding", "host", "connection", "expect")
EXTRA_HEADERS = st.lists(
    st.one_of(
        st.tuples(st.just(b"content-type"), st.one_of(st.sampled_from(CONTENT_TYPES), WIRE_VALUE)),
        st.tuples(
            st.sampled_from([b"x-costcap-user", b"x-costcap-feature"]),
            st.one_of(WIRE_VALUE, st.sampled_from([b"", b"u" * 10_000, b"\t", b"a\tb"])),
        ),
        st.tuples(st.sampled_from([b"authorization", b"x-api-key"]), WIRE_VALUE),  # a second
        st.tuples(
            st.sampled_from([b"anthropic-version", b"anthropic-beta"]),
            st.one_of(st.just(b"2023-06-01"), WIRE_VALUE),
        ),
        st.tuples(st.just(b"accept"), st.sampled_from([b"text/event-stream", b"*/*", b"\x85"])),
        st.tuples(st.just(b"content-encoding"), st.sampled_from([b"gzip", b"br", b"identity"])),
        st.tuples(
            TOKEN.filter(lambda name: not name.lower().startswith(RESERVED)).map(str.encode),
            WIRE_VALUE,
        ),
    ),
    max_size=4,
)
#: Methods the HTTP parser knows (another is refused by uvicorn before the gateway sees it).
METHODS = st.one_of(
    st.just("POST"),
    st.just("POST"),
    st.sampled_from(["GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "PURGE"]),
)
SEGMENTS = st.one_of(
    st.sampled_from(["chat", "completions", "responses", "messages", "models", "count_tokens",
                     "embeddings", "batches", "files", "v1", ".", "..", "%2e%2e", "", "~",
                     "%zz", "%", "%00", "%0d%0a", "%ff", "%2F", ";x=1", "a%20b", "%C3%A9"]),
    st.text(st.characters(codec="utf-8"), max_size=8).map(lambda s: quote(s, safe="")),
)  # fmt: skip
QUERIES = st.one_of(
    st.just(""),
    st.just(""),
    st.sampled_from(["?beta=true", "?", "?a=%00", "?%ff=%ff&&=", "?limit=-1"]),
    st.text(st.characters(codec="utf-8"), max_size=10).map(lambda s: "?" + quote(s, safe="=&")),
)  # fmt: skip


@st.composite
def v1_paths(draw: st.DrawFn) -> str:
    segments = draw(st.lists(SEGMENTS, min_size=1, max_size=4))
    return "/v1/" + "/".join(segments) + draw(QUERIES)


OUTSIDE = st.one_of(
    st.sampled_from(["/", "/healthz", "/readyz", "/metrics", "/v1", "/v2/chat/completions",
                     "/chat/completions", "/nope", "/admin", "/admin/me", "/admin/keys",
                     "//v1/chat/completions", "/V1/chat/completions", "/%76%31/models"]),
    st.lists(SEGMENTS, max_size=3).map(lambda parts: "/" + "/".join(parts)),
)  # fmt: skip


@st.composite
def requests(draw: st.DrawFn, target: Target, paths: st.SearchStrategy[str], api: str) -> Request:
    """A request to one of ``paths`` with a body for ``api``, any method, any headers."""
    method = draw(METHODS)
    headers = draw(auth(target)) + draw(EXTRA_HEADERS)
    chunk = draw(st.sampled_from([0, 0, 0, 1, 7, 1000]))
    return Request(method, draw(paths), headers, draw(encoded(bodies(api))), chunk)


# -- the fuzz -----------------------------------------------------------------------------------

ENDPOINTS = {
    "chat": "/v1/chat/completions",
    "responses": "/v1/responses",
    "messages": "/v1/messages",
}


@pytest.mark.parametrize("api", ["chat", "responses", "messages"])
def test_fuzz_a_guarded_endpoint(roomy: Target, api: str) -> None:
    """Bodies of every shape, methods, headers and keys at one guarded endpoint."""
    path = st.integers(0, 2).flatmap(
        lambda roll: v1_paths() if roll == 0 else st.just(ENDPOINTS[api])
    )

    @fuzz(300)
    @given(request=requests(roomy, path, api))
    def run(request: Request) -> None:
        fuzzed(roomy, request)

    roomy.statuses.clear()
    run()
    assert_still_ready(roomy)
    assert any(200 <= s < 300 for s in roomy.statuses), "no request got through at all"
    assert 400 in roomy.statuses
    assert 401 in roomy.statuses


def test_fuzz_passed_through_endpoints(roomy: Target) -> None:
    """``/v1/models``, endpoints costcap refuses (they spend unmetered) and paths it passes on
    (``count_tokens`` aside: see known_failure)."""
    paths = st.one_of(
        st.sampled_from(["/v1/models", "/v1/models/gpt-4o-mini", "/v1/models/%ff",
                         "/v1/embeddings", "/v1/messages/batches", "/v1/responses/compact",
                         "/v1/files", "/v1/nope", "/v1/"]),
        v1_paths(),
    )  # fmt: skip
    api = st.sampled_from(["chat", "messages"])

    @fuzz(300)
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        fuzzed(roomy, data.draw(requests(roomy, paths, data.draw(api))))

    run()
    assert_still_ready(roomy)


def test_fuzz_outside_v1(roomy: Target) -> None:
    """Paths outside ``/v1``: the operations app answers, never with a 5xx or a traceback."""

    @fuzz(100)
    @given(request=requests(roomy, OUTSIDE, "chat"))
    def run(request: Request) -> None:
        fuzzed(roomy, request)

    run()
    assert_still_ready(roomy)


@st.composite
def priced_requests(draw: st.DrawFn, target: Target) -> Request:
    """Valid requests with caps of every size (and kind), most with the usable key."""
    api = draw(st.sampled_from(["chat", "responses", "messages"]))
    cap_field = {"chat": "max_tokens", "responses": "max_output_tokens", "messages": "max_tokens"}
    valid: dict[str, dict[str, Any]] = {
        "chat": {"model": draw(st.sampled_from([GPT, "gpt-4o"])), "messages": HI},
        "responses": {"model": GPT, "input": "hi"},
        "messages": {"model": CLAUDE, "messages": HI},
    }
    cap = draw(st.one_of(st.integers(1, 200_000), CAPS))
    body = {**valid[api], cap_field[api]: cap, "stream": draw(st.booleans())}
    headers = draw(auth(target)) + draw(EXTRA_HEADERS)
    return Request("POST", ENDPOINTS[api], headers, draw(encoded(st.just(body))))


def chat_request(key: str, *, max_tokens: int) -> Request:
    """A valid, plain Chat Completions request with ``key``."""
    body = {"model": GPT, "messages": HI, "max_tokens": max_tokens}
    headers = [
        (b"authorization", b"Bearer " + key.encode()),
        (b"content-type", b"application/json"),
    ]
    return Request("POST", ENDPOINTS["chat"], headers, json.dumps(body).encode())


def test_fuzz_with_tiny_budgets_refuses_in_the_provider_format(tight: Target) -> None:
    """With $0.002 in all and a key allowed 3 requests a minute, budget refusals (402) and
    rate limits (429) are common; each is a provider-format error like any other 4xx."""

    @fuzz(100)
    @given(request=priced_requests(tight))
    def run(request: Request) -> None:
        fuzzed(tight, request)

    tight.statuses.clear()
    # One refusal of each kind for certain, whatever the fuzz draws (on its own it may spend the
    # money before the rate limit is reached, or the other way round): sent first, while the
    # global budget has room, and held to the same rules as every fuzzed answer.
    limited = tight.gw.key(limits=("1/minute",))
    for _ in range(2):
        check(tight, chat_request(limited, max_tokens=1))
    assert tight.statuses == [200, 429]
    check(tight, chat_request(tight.gw.key(budgets=("$0.001/day",)), max_tokens=200_000))
    assert tight.statuses[-1] == 402  # its worst case ($0.12) is more than the key's budget
    run()
    assert_still_ready(tight)


# -- regressions: what the fuzz found -----------------------------------------------------------


def bearer(target: Target) -> Headers:
    return [(b"authorization", b"Bearer " + target.key.encode())]


def error_of(answer: Answer) -> dict[str, Any]:
    error: dict[str, Any] = json.loads(answer.body)["error"]
    return error


@pytest.mark.parametrize("api", ["chat", "responses", "messages"])
@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_json_nested_10000_deep_is_a_400_not_a_500(roomy: Target, api: str, opener: str) -> None:
    """Python's json raises RecursionError past ~1,000 levels: refused as unreadable."""
    request = Request("POST", ENDPOINTS[api], bearer(roomy), _deep(10_000, opener))
    answer = check(roomy, request)
    assert answer.status == 400
    assert "nested too deeply" in error_of(answer)["message"]


@pytest.mark.parametrize("api", ["chat", "responses", "messages"])
def test_tools_nested_near_the_recursion_limit_are_never_a_gateway_500(
    roomy: Target, api: str
) -> None:
    """Tools nested 900–1,000 deep parse, then counting their tokens (json.dumps) may recurse
    too deep: a refusal (400), not a 500. (The fake provider behind may fail on some of these
    depths itself; its 500 is passed on with the gateway's request id, unlike a crash of the
    gateway's own, which uvicorn answers bare.)"""
    function = {"name": "f", "parameters": DEEP_MARK}
    bodies = {
        "chat": {"model": GPT, "messages": HI, "max_tokens": 5,
                 "tools": [{"type": "function", "function": function}]},
        "responses": {"model": GPT, "input": "hi", "max_output_tokens": 5,
                      "tools": [{"type": "function", "name": "f", "parameters": DEEP_MARK}]},
        "messages": {"model": CLAUDE, "messages": HI, "max_tokens": 5,
                     "tools": [{"name": "f", "input_schema": {"type": "object",
                                                              "properties": DEEP_MARK}}]},
    }  # fmt: skip
    template = _json(bodies[api], ascii_only=True)
    refused = 0
    for depth in range(900, 1001):
        body = template.replace(f'"{DEEP_MARK}"'.encode(), _deep(depth, '{"a":'))
        answer = send(roomy.port, Request("POST", ENDPOINTS[api], bearer(roomy), body))
        gateway_crash = answer.status >= 500 and "x-costcap-request-id" not in answer.headers
        assert not gateway_crash, f"depth {depth}: {answer.status} {answer.body[:200]!r}"
        refused += answer.headers.get("x-costcap-refused") == "true"
    assert refused > 0  # the deepest are refused by costcap itself


@pytest.mark.parametrize("path", ["/v1/%00", "/v1/chat/completions%00", "/v1/a%0d%0ab"])
def test_a_path_httpx_cannot_forward_is_a_400(roomy: Target, path: str) -> None:
    body = _json({"model": GPT, "messages": HI}, ascii_only=True)
    answer = check(roomy, Request("POST", path, bearer(roomy), body))
    assert answer.status == 400
    assert "cannot be forwarded" in error_of(answer)["message"]


@pytest.mark.parametrize(
    ("method", "path", "status", "flavor"),
    [
        ("GET", "/v1/chat/completions", 405, "openai"),
        ("PUT", "/v1/messages", 405, "anthropic"),
        ("DELETE", "/v1/responses", 405, "openai"),
        ("GET", "/v1/nope", 404, "openai"),
        ("POST", "/v1/a%20b", 404, "openai"),
    ],
)
def test_an_upstream_plain_text_4xx_is_passed_back_in_the_provider_format(
    roomy: Target, method: str, path: str, status: int, flavor: Flavor
) -> None:
    answer = check(roomy, Request(method, path, bearer(roomy), b""))
    assert answer.status == status
    assert answer.headers["content-type"] == "application/json"
    assert_error_body(answer.body, flavor, repr(answer))
    assert f"upstream answered {status}" in error_of(answer)["message"]


def test_a_bad_x_api_key_on_chat_completions_is_a_401_in_openai_format(roomy: Target) -> None:
    body = _json({"model": GPT, "messages": HI}, ascii_only=True)
    for headers in ([(b"x-api-key", b"nope")], [(b"anthropic-version", b"2023-06-01")]):
        answer = check(roomy, Request("POST", "/v1/chat/completions", headers, body))
        assert answer.status == 401
        assert_error_body(answer.body, "openai", repr(answer))


# -- found by fuzzing, fixed: regressions


def test_anthropic_batches_refused_in_anthropic_format(roomy: Target) -> None:
    body = _json({"requests": []}, ascii_only=True)
    answer = send(roomy.port, Request("POST", "/v1/messages/batches", bearer(roomy), body))
    assert answer.status == 403
    assert json.loads(answer.body)["type"] == "error"


def test_count_tokens_with_json_nested_10000_deep_is_a_4xx(roomy: Target) -> None:
    deep = _deep(10_000, "[")
    answer = check(roomy, Request("POST", "/v1/messages/count_tokens", bearer(roomy), deep))
    assert 400 <= answer.status < 500


def test_count_tokens_with_messages_it_cannot_count_is_a_4xx(roomy: Target) -> None:
    body = _json({"model": CLAUDE, "messages": [{"role": "user", "tool_calls": True}]}, True)
    answer = check(roomy, Request("POST", "/v1/messages/count_tokens", bearer(roomy), body))
    assert 400 <= answer.status < 500


def test_metrics_with_a_non_utf8_accept_header_is_not_a_500(roomy: Target) -> None:
    answer = check(roomy, Request("GET", "/metrics", [(b"accept", b"\x85")], b""))
    assert answer.status == 200


def test_count_tokens_is_passed_through(roomy: Target) -> None:
    body = _json({"model": CLAUDE, "messages": HI}, ascii_only=True)
    answer = check(roomy, Request("POST", "/v1/messages/count_tokens", bearer(roomy), body))
    assert answer.status == 200
    assert json.loads(answer.body)["input_tokens"] > 0


def test_a_model_with_a_lone_surrogate_is_answered(roomy: Target) -> None:
    """Priced loosely as claude-3-5-haiku, sent, and refused by the provider (no such model):
    a 4xx in the provider's format, and the ledger keeps the call's event (its text escaped)."""
    body = _json({"model": "\ud800" + CLAUDE, "messages": HI, "max_tokens": 5}, ascii_only=True)
    answer = check(roomy, Request("POST", "/v1/messages", bearer(roomy), body))
    assert 400 <= answer.status < 500


@pytest.mark.parametrize(
    ("model", "header"),
    [
        (CLAUDE + "\n", CLAUDE + "\\n"),
        (CLAUDE + "\x00", CLAUDE + "\\x00"),
        ("x\r\nset-cookie: a=b\r\n" + CLAUDE, "x\\r\\nset-cookie: a=b\\r\\n" + CLAUDE),
        ("\ud800" + CLAUDE, "\\ud800" + CLAUDE),
    ],
)
def test_a_model_name_read_loosely_is_escaped_in_the_model_header(
    roomy: Target, model: str, header: str
) -> None:
    """Pricing finds claude-3-5-haiku-latest in these names; the header shows them escaped (the
    fake provider is told to answer 429, so that it need not echo them)."""
    body = _json({"model": model, "messages": HI, "max_tokens": 5}, ascii_only=True)
    headers = [*bearer(roomy), (b"x-fake-error", b"429")]
    answer = check(roomy, Request("POST", "/v1/messages", headers, body))
    assert answer.status == 429
    assert answer.headers["x-costcap-model"] == header
    assert "set-cookie" not in answer.headers
