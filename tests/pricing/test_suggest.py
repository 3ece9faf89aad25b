"""UnknownModel's suggestions: close names that resolve, never the name that failed."""

from __future__ import annotations

import pytest

from costcap.errors import UnknownModel
from costcap.pricing import PriceCatalog


def _suggestions(catalog: PriceCatalog, model: str) -> tuple[str, ...]:
    with pytest.raises(UnknownModel) as info:
        catalog.resolve(model)
    return info.value.suggestions


@pytest.mark.parametrize("model", ["codestral", "Codestral", " codestral ", "mistral/codestral"])
def test_the_failed_name_is_never_suggested(catalog: PriceCatalog, model: str) -> None:
    """genai-prices lists an id "codestral" that its matching does not accept: suggesting it
    back (as before) sends the user in a circle. No spelling of the failed name comes back."""
    suggestions = _suggestions(catalog, model)
    assert suggestions
    assert all(s.strip().lower() != "codestral" for s in suggestions)


def test_every_suggestion_resolves(catalog: PriceCatalog) -> None:
    """Each name suggested for "codestral" is one the catalog prices."""
    for name in _suggestions(catalog, "codestral"):
        assert catalog.resolve(name).input_pico_per_token > 0


def test_names_models_are_matched_by_are_suggested(catalog: PriceCatalog) -> None:
    """A name a model is matched by (not only its id) can be suggested: "codestral-2501" is how
    genai-prices' Mistral "codestral" is named in a request."""
    assert "codestral-2501" in _suggestions(catalog, "codestral")


def test_configured_names_are_suggested() -> None:
    """A name configured in overrides is suggested for a near miss."""
    catalog = PriceCatalog(overrides={"house-model-large": {"input": "1", "output": "2"}})
    assert "house-model-large" in _suggestions(catalog, "house-model-larg")
