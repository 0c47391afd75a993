"""safe_text: user text shown through Streamlit's Markdown reads as written (the browser test in
tests/e2e/test_xss_browser.py checks what the page then holds)."""
from __future__ import annotations

from ui.common import WORD_JOINER, safe_text


def test_markdown_and_html_characters_are_backslash_escaped() -> None:
    assert safe_text("**bold** <img src=x> [a](b) # h") == r"\*\*bold\*\* \<img src\=x\> \[a\]\(b\) \# h"


def test_a_word_joiner_goes_before_each_bare_address_so_it_is_not_linked() -> None:
    assert safe_text("see https://evil.example, WWW.evil.example or bob@evil.example") == (
        f"see {WORD_JOINER}https\\://evil\\.example, {WORD_JOINER}WWW\\.evil\\.example or "
        f"bob{WORD_JOINER}@evil\\.example")


def test_text_without_addresses_is_only_escaped_and_kept_on_one_line() -> None:
    assert safe_text("He hit me.\nTwice") == "He hit me\\. Twice"
    assert WORD_JOINER not in safe_text("a http-free sentence about the web")
