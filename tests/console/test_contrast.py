"""The console's colours meet WCAG 2.1 AA contrast (4.5:1 for text) wherever text is drawn
on them: read from the shipped stylesheet, so a colour change that breaks it fails here."""

from __future__ import annotations

import re
from importlib import resources

import pytest

AA_TEXT = 4.5


def _stylesheet() -> str:
    return (resources.files("keyloft.web.console") / "static" / "console.css").read_text()


def _variables() -> dict[str, str]:
    root = re.search(r":root\s*{(.*?)}", _stylesheet(), re.S)
    assert root is not None
    return dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})", root.group(1)))


def _luminance(colour: str) -> float:
    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)


def contrast(one: str, other: str) -> float:
    light, dark = sorted((_luminance(one), _luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_the_formula_matches_known_values() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


# (text, background) pairs the stylesheet draws; "#fff…" literals are the white text on
# the top bar, the danger button and the status pills.
PAIRS = [
    ("ink", "paper"),
    ("ink", "ground"),
    ("muted", "paper"),
    ("muted", "ground"),
    ("accent", "paper"),
    ("accent", "ground"),
    ("accent-ink", "accent"),
    ("danger", "paper"),
    ("#ffffff", "danger"),
    ("#ffffff", "ok"),
    ("#ffffff", "muted"),
    ("ink", "warn-ground"),
    ("#ffffff", "#12263f"),
    ("#d0d8e2", "#12263f"),
    ("ink", "#e8ecf0"),
]


@pytest.mark.parametrize(("text", "background"), PAIRS)
def test_text_colours_meet_aa(text: str, background: str) -> None:
    names = _variables()
    fore = text if text.startswith("#") else names[text]
    back = background if background.startswith("#") else names[background]
    assert contrast(fore, back) >= AA_TEXT, f"{text} on {background}"
