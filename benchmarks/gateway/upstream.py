"""The benchmark's upstream: costcap's fake provider on a real socket, in a process of its own.

The same server as ``costcap fake-provider`` (uvicorn, no lifespan, no access log, the socket
``costcap fake-provider`` binds), with one difference: its record of served requests is cleared
every second. The fake provider keeps every request it served (tests read them); over the
hundreds of thousands of requests of a benchmark run that record would grow by hundreds of MB and
slow the upstream's garbage collections as the run goes on — later configurations would meet a
slower upstream than earlier ones.

Run: ``python upstream.py [--port 0] [--output-tokens 20]``; prints ``PORT <n>`` once it listens.
"""

from __future__ import annotations

import argparse
import threading
import time

import uvicorn

from costcap.cli.fake_provider import listening
from costcap.testing import FakeProviderConfig, create_fake_provider


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--output-tokens", type=int, default=20)
    args = parser.parse_args()
    provider = create_fake_provider(FakeProviderConfig(output_tokens=args.output_tokens))

    def forget() -> None:
        while True:
            time.sleep(1.0)
            provider.reset()

    threading.Thread(target=forget, name="forget-requests", daemon=True).start()
    sock = listening(args.host, args.port)
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(
        provider.app,
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    with sock:
        uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
