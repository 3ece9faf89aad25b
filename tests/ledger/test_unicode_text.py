"""Text a database cannot keep — a lone surrogate, which a JSON body's model name may carry —
is written escaped: the event is kept, never refused by the sink and set aside."""

from __future__ import annotations

from pathlib import Path

from costcap.ledger import Ledger, open_sink
from tests.ledger.conftest import event


def test_an_event_with_a_lone_surrogate_is_kept_with_it_escaped(
    ledger_url: str, tmp_path: Path
) -> None:
    with Ledger(ledger_url, spool_dir=tmp_path / "spool") as ledger:
        ledger.record(event(1, requested_model="\ud800claude", user_id="é\udfffx"))
        ledger.record(event(2, user_id="zoë"))  # valid text beyond ASCII is kept as it is
        assert ledger.flush()
    assert not list((tmp_path / "spool").glob("*.bad"))
    sink = open_sink(ledger_url)
    try:
        rows = sink.query(
            "SELECT request_id, requested_model, user_id, cost_pico FROM costcap_events"
            " ORDER BY request_id"
        )
    finally:
        sink.close()
    assert rows == [
        ("req-1", "\\ud800claude", "é\\udfffx", 1001),
        ("req-2", None, "zoë", 1002),
    ]
