"""Text identity: normalization, hashing, deterministic split and shuffle, sentence splitting."""
from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache

_WHITESPACE = re.compile(r"\s+")

# Unicode's Default_Ignorable_Code_Point set (DerivedCoreProperties.txt): characters that render as
# nothing — zero-width space/joiners, word joiner, BOM/ZWNBSP, soft hyphen, bidi controls, variation
# selectors, Hangul fillers, tags. Copy-paste from web pages and chat apps leaves them in text, where
# they make invisible-only "sentences" and false non-duplicates. The visible format characters of
# category Cf (Arabic number signs and end of ayah, Syriac and Kaithi marks, Egyptian hieroglyph
# controls) render, so they stay.
_IGNORABLE_RANGES = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
    (0xFFF9, 0xFFFB),  # interlinear annotation anchors: Cf, invisible, though not in that set
)
_INVISIBLE = re.compile(
    "[" + "".join(f"\\U{a:08X}-\\U{b:08X}" for a, b in _IGNORABLE_RANGES) + "]+"
)
_JOINERS = frozenset("\u200c\u200d")
_BLACK_FLAG = "\U0001F3F4"


def _is_variation_selector(ch: str) -> bool:
    return "\ufe00" <= ch <= "\ufe0f" or "\U000e0100" <= ch <= "\U000e01ef" or ch in "\u180b\u180c\u180d\u180f"


def _is_emoji_base(ch: str) -> bool:
    return bool(ch) and not ch.isascii() and not ch.isspace()


def _is_tag(ch: str) -> bool:
    return "\U000e0020" <= ch <= "\U000e007f"


def _joins_visibly(before: str, after: str) -> bool:
    """ZWJ/ZWNJ between two non-ASCII letters, marks or symbols shape what is seen: emoji sequences
    (👩‍👧, ❤️‍🔥) and the orthography of Persian, Urdu and Indic scripts. Between ASCII characters, or
    next to a space, they only hide differences."""
    def shaped(ch: str) -> bool:
        return not ch.isascii() and unicodedata.category(ch)[0] in "LMS"

    return bool(before) and bool(after) and shaped(before) and shaped(after)


def _drop_invisible_for_display(text: str) -> str:
    """Removes ignorable characters except the few that change what a reader sees: a joiner inside
    an emoji or an Indic/Persian word, a variation selector after a non-ASCII character or in a
    keycap (text or emoji presentation: ❤ ❤️, 1️⃣), the tags of a subdivision flag (🏴 + tags). Each
    kept one follows a visible character, so text made only of ignorable ones still comes out empty."""
    def keep(match: re.Match[str]) -> str:
        run, start, end = match.group(), match.start(), match.end()
        before = text[start - 1] if start else ""
        after = text[end] if end < len(text) else ""
        kept = []
        for ch in run:
            if ch in _JOINERS and _joins_visibly(before, after):
                kept.append(ch)
            elif _is_variation_selector(ch) and not kept and (_is_emoji_base(before) or after == "\u20e3"):
                kept.append(ch)
            elif _is_tag(ch) and (before == _BLACK_FLAG or (kept and _is_tag(kept[-1]))):
                kept.append(ch)
        return "".join(kept)

    return _INVISIBLE.sub(keep, text)


def normalize_text(text: str) -> str:
    """Ignorable characters dropped, NFKC, whitespace folded, case folded: two sentences equal under
    this are one sentence. Dropping happens before NFKC because a zero-width character between a
    letter and its accent would otherwise block composition."""
    text = unicodedata.normalize("NFKC", _INVISIBLE.sub("", text))
    return _WHITESPACE.sub(" ", text).strip().casefold()


def clean_text(text: str) -> str:
    """What is stored and shown: invisible characters dropped (see _drop_invisible_for_display), NFC,
    whitespace folded, case kept."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFC", _drop_invisible_for_display(text))).strip()


def text_hash(text: str) -> str:
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()


def split_for_hash(digest: str, test_fraction: float) -> str:
    """train/test from the hash alone, so a sentence keeps its split however the data grows."""
    bucket = int(digest[:8], 16) / 0x1_0000_0000
    return "test" if bucket < test_fraction else "train"


def shuffle_key(digest: str, seed: int) -> int:
    """A stable pseudo-random order key (48 bits fit SQLite's signed 64-bit integers)."""
    return int(hashlib.sha256(f"{seed}:{digest}".encode()).hexdigest()[:12], 16)


# --- Documents mode: sentence splitting -------------------------------------------------------------

# The importer rejects longer texts (core.importing.MAX_TEXT_CHARS); documents mode cuts a run-on
# "sentence" into pieces this long at most instead, so a long chat message is labelled, not lost.
MAX_SENTENCE_CHARS = 2000

_TLDS = "com|org|net|edu|gov|mil|int|info|biz|io|co|me|app|dev|uk|de|fr|nl|es|it|eu|ca|au|us|ru|ch|at|be|se|no|dk|pl"
# Spans a splitter must never cut: it would take the `?`, `.` or `#` inside them for sentence ends.
_PROTECTED = re.compile(
    r"""
      (?P<url>(?:[a-z][a-z0-9+.\-]*://|www\.)\S+)                           # URL with a scheme or www.
    | [\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+                                       # e-mail address
    | (?P<domain>\b[\w\-]+(?:\.[\w\-]+)*\.(?-i:""" + _TLDS + r""")\b(?:[/?#]\S*)?)  # bare lowercase domain
    | \b(?:fig(?:ure)?s?|tab(?:le)?s?|eqs?|equations?|sec(?:tion)?s?|refs?|ch(?:apter)?s?
         |appendix|alg(?:orithm)?s?|lines?)(?:\.\s*|\s+)\?\?(?!\?)            # LaTeX's unresolved "Fig. ??"
    | \d+(?:[.,]\d+)+                                                       # 3.5 · 1,000.25 · 3.30
    """,
    re.IGNORECASE | re.VERBOSE,
)
# A URL's last character is more often the punctuation of the sentence around it than part of it.
_URL_TAIL = ".,;:!?'\"”’»"
_CLOSERS = {")": "(", "]": "[", "}": "{"}
_LIST_MARKER = re.compile(r"\(?\d{1,3}[.)]")
# Both splitters take `me.`, `no.` and `ok.` for abbreviations (Maine, number, Oklahoma) and keep
# "He hit me. I ran." as one sentence; in posts they end sentences far more often. `No. 5` stays.
_FORCED_END = re.compile(r"(?<=\b(?:me|Me|no|No|ok|Ok|OK)\.)\s+(?=[A-Z])")


def _trim_url(span: str) -> str:
    while span:
        last = span[-1]
        if last in _URL_TAIL:
            span = span[:-1]
        elif last in _CLOSERS and span.count(last) > span.count(_CLOSERS[last]):
            span = span[:-1]
        else:
            break
    return span


def _mask(text: str) -> tuple[str, Callable[[str], str]]:
    """Replaces each protected span by a placeholder word and returns the function that puts the
    spans back. A placeholder is a capitalised word of letters (`Zxqbq`): every splitter reads it as
    an ordinary word, and a sentence that starts with a URL still looks like a sentence start."""
    prefix = "Zxq"
    while prefix.casefold() in text.casefold():
        prefix += "j"
    spans: list[str] = []
    pieces: list[str] = []
    position = 0
    for match in _PROTECTED.finditer(text):
        span = match.group()
        if match.group("url") or match.group("domain"):
            span = _trim_url(span)
        if not span:
            continue
        # Base-16 letters a..p and a final q, so no placeholder is the start of another.
        token = prefix + "".join("abcdefghijklmnop"[int(d, 16)] for d in f"{len(spans):x}") + "q"
        spans.append(span)
        pieces += [text[position:match.start()], token]
        position = match.start() + len(span)
    pieces.append(text[position:])
    if not spans:
        return text, lambda sentence: sentence
    token_pattern = re.compile(re.escape(prefix) + "([a-p]+)q")

    def unmask(sentence: str) -> str:
        return token_pattern.sub(
            lambda m: spans[int("".join(f"{ord(c) - ord('a'):x}" for c in m.group(1)), 16)], sentence)

    return "".join(pieces), unmask


def _has_word(sentence: str) -> bool:
    return any(ch.isalnum() for ch in sentence)


def _merge_fragments(sentences: list[str]) -> list[str]:
    """A line with no letter or digit (`...`, an emoji) joins the sentence before it, or the one
    after it when it comes first. A document with no letter or digit at all yields nothing."""
    merged: list[str] = []
    pending = ""
    for sentence in sentences:
        if not _has_word(sentence):
            if merged:
                merged[-1] = f"{merged[-1]} {sentence}"
            else:
                pending = f"{pending} {sentence}".strip()
            continue
        merged.append(f"{pending} {sentence}" if pending else sentence)
        pending = ""
    return merged


def _glue_pieces(pieces: list[str]) -> list[str]:
    """Within one line, on the splitter's raw pieces (so `..` stays `..`): a piece with no letter or
    digit (`.`, `??`, `...`, an emoji) joins the piece before it, or the one after it when it comes
    first; a lone list marker (`1.`, `2)`) joins the piece after it."""
    glued: list[str] = []
    pending = ""
    for piece in pieces:
        if not _has_word(piece):
            if glued:
                glued[-1] += piece
            else:
                pending += piece
        elif glued and _LIST_MARKER.fullmatch(glued[-1].strip()):
            glued[-1] += piece
        else:
            glued.append(pending + piece)
            pending = ""
    return glued + [pending] if pending else glued


def _cap_length(sentence: str, max_chars: int) -> list[str]:
    """Cuts a run-on sentence into nearly equal pieces at whitespace, each at most max_chars long:
    2,600 characters become two of ~1,300 rather than 2,000 and 600."""
    pieces: list[str] = []
    rest = sentence
    while len(rest) > max_chars:
        target = math.ceil(len(rest) / math.ceil(len(rest) / max_chars))
        cut = rest.rfind(" ", 0, target + 1)
        if cut <= 0:
            cut = rest.rfind(" ", 0, max_chars + 1)
        if cut <= 0:
            cut = max_chars  # one unbroken token longer than the limit (CJK without punctuation, base64)
        pieces.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest:
        pieces.append(rest)
    return pieces


Segment = Callable[[str], list[str]]


@lru_cache(maxsize=1)
def _segment_sentencex() -> Segment:
    # Rule-based, compiled, no model download; imported lazily because only documents mode needs it.
    import sentencex

    return lambda text: list(sentencex.segment("en", text))


def _split_document(document: str, segment: Segment, max_chars: int) -> list[str]:
    """The splitter-independent part, shared with bench/bench_splitter.py so it can compare splitters
    under the same guards."""
    sentences: list[str] = []
    # Lines first: in posts and chat messages a line break ends a thought even without a full stop
    # (`I love you` / `I hate you`); pysbd, the splitter before, cut there too.
    for line in _drop_invisible_for_display(document).splitlines():
        if not line.strip():
            continue
        masked, unmask = _mask(line)
        pieces = [part for piece in segment(masked) for part in _FORCED_END.split(piece)]
        sentences += [s for s in (clean_text(unmask(piece)) for piece in _glue_pieces(pieces)) if s]
    capped = [piece for sentence in _merge_fragments(sentences) for piece in _cap_length(sentence, max_chars)]
    # Only a run of emoji longer than max_chars can leave a piece without a letter or digit here.
    return [piece for piece in capped if _has_word(piece)]


def split_sentences(document: str, *, max_chars: int = MAX_SENTENCE_CHARS) -> list[str]:
    """Lines, then sentencex's rule-based boundaries inside each (README: Text and sentences), with
    URLs, e-mail addresses, decimal numbers and "Fig. ??" masked so they are never cut; every sentence
    has a letter or a digit and at most max_chars characters."""
    return _split_document(document, _segment_sentencex(), max_chars)
