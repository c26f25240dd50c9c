"""The console in a real browser: viewport sizes and checked screenshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


def screenshot(page: Any, directory: Path, name: str, **options: Any) -> Path:
    """Write ``name``.png into ``directory`` and check that it holds a PNG image."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    path.unlink(missing_ok=True)
    page.screenshot(path=str(path), **options)
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE), f"{path} is not a PNG"
    assert len(data) > 1000, f"{path} is nearly empty"
    width = int.from_bytes(data[16:20], "big")  # the IHDR chunk follows the signature
    assert width == page.viewport_size["width"], f"{path} is {width} pixels wide"
    return path
