"""A wrapped chat call asking for audio output from a model with no audio price is refused
before anything is sent (audio output is billed far above text)."""

from __future__ import annotations

import pytest

from costcap.errors import UnpricedModality
from costcap.integrations.wrap import wrap
from costcap.testing import FakeProviderServer
from tests.integrations.openai_sdk.conftest import MESSAGES, Recorder, make_guard, sdk_client


def test_audio_output_without_an_audio_price_is_refused_before_sending(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    guard = make_guard(recorder)
    with sdk_client(fp) as bare, pytest.raises(UnpricedModality):
        wrap(bare, guard=guard).chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, max_tokens=50, modalities=["text", "audio"]
        )
    assert not fp.requests
    assert [e.status for e in recorder.events] == ["refused"]
    guard.close()
