"""Reading the text of console pages: a table's rows, the history table, an element's words."""

from __future__ import annotations

import re
from html import unescape


def table_rows(html: str, table_id: str) -> list[list[str]]:
    """The rows of a table's body, each as its cells' text."""
    found = re.search(rf'<table id="{table_id}".*?<tbody>(.*?)</tbody>', html, re.S)
    if found is None:
        return []
    return [
        [
            " ".join(unescape(re.sub(r"<[^>]+>", " ", td)).split())
            for td in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)
        ]
        for tr in re.findall(r"<tr>(.*?)</tr>", found.group(1), re.S)
    ]


def history(html: str) -> list[list[str]]:
    """The history table's rows, each as its cells' text."""
    found = re.search(r'<table id="history".*?<tbody>(.*?)</tbody>', html, re.S)
    assert found is not None, "no history table"
    return [
        [
            " ".join(unescape(re.sub(r"<[^>]+>", "", td)).split())
            for td in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)
        ]
        for tr in re.findall(r"<tr>(.*?)</tr>", found.group(1), re.S)
    ]


def text_of(html: str, element_id: str) -> str:
    """The words of the element with this id (one without nested elements of its kind), a tag
    counting as a space but before a comma."""
    found = re.search(rf'<(\w+)[^>]* id="{element_id}"[^>]*>(.*?)</\1>', html, re.S)
    assert found is not None, f"no element {element_id!r}"
    words = " ".join(unescape(re.sub(r"<[^>]+>", " ", found.group(2))).split())
    return words.replace(" ,", ",")


def textarea(html: str, name: str) -> str:
    """What the textarea named ``name`` holds."""
    found = re.search(rf'<textarea[^>]* name="{re.escape(name)}"[^>]*>(.*?)</textarea>', html, re.S)
    assert found is not None, f"no textarea {name!r}"
    return unescape(found.group(1))
