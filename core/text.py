"""Text identity: normalization, hashing, deterministic split and shuffle, sentence splitting."""
from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache

_WHITESPACE = re.compile(r"\s+")
_PARAGRAPH = re.compile(r"\n\s*\n")


def normalize_text(text: str) -> str:
    """NFKC, whitespace folded, case folded: two sentences equal under this are one sentence."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()


def clean_text(text: str) -> str:
    """What is stored and shown: NFC with whitespace folded, case kept."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()


def text_hash(text: str) -> str:
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()


def split_for_hash(digest: str, test_fraction: float) -> str:
    """train/test from the hash alone, so a sentence keeps its split however the data grows."""
    bucket = int(digest[:8], 16) / 0x1_0000_0000
    return "test" if bucket < test_fraction else "train"


def shuffle_key(digest: str, seed: int) -> int:
    """A stable pseudo-random order key (48 bits fit SQLite's signed 64-bit integers)."""
    return int(hashlib.sha256(f"{seed}:{digest}".encode()).hexdigest()[:12], 16)


@lru_cache(maxsize=1)
def _segmenter():
    import pysbd  # rule-based, no model download; imported lazily because only documents mode needs it

    return pysbd.Segmenter(language="en", clean=False)


def split_sentences(document: str) -> list[str]:
    """Paragraphs first (blank lines), then pysbd's rule-based sentence boundaries inside each."""
    sentences: list[str] = []
    for paragraph in _PARAGRAPH.split(document):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        for sentence in _segmenter().segment(paragraph):
            sentence = clean_text(sentence)
            if sentence:
                sentences.append(sentence)
    return sentences
