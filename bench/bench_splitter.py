"""Sentence splitters for documents mode, measured on the same texts:

    python bench/bench_splitter.py [--repeat 20] [--cases ../shared/cases/pysbd-destructive.txt]

Splitters: pysbd 0.3.4 and sentencex each bare (paragraphs, then the library), and each behind the
app's guards (core.text: lines, URLs/e-mails/decimals/"Fig. ??" masked, fragments without a letter or
digit merged, run-ons capped). `split_sentences` is sentencex behind the guards.

Texts: the case file of splitter artefacts (pysbd-destructive.txt; a copy of it is built in, so the
script runs without ../shared), the demo posts (each post's 189 pre-defined sentences joined into one
document: a splitter should give them back exactly), and probes with URLs, e-mails and decimals.

Prints per splitter and text: sentences, sentences with no letter or digit, URLs/e-mails/decimals cut
(a span found in the input that no output sentence contains whole), demo sentences given back exactly,
and the time for --repeat passes over all texts, with its ratio to the first row (bare pysbd, the
app's splitter before, when it is installed).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.demo import DEMO_FILE  # noqa: E402
from core.text import MAX_SENTENCE_CHARS, _split_document, clean_text  # noqa: E402

# Each text as the sentences a reader sees in it; a splitter should give exactly these back.
CASE_FILE_COPY = [
    ["He left the party ..", "Later he came back with a bat."],
    ["The photo in Fig. ?? shows the bruise."],
    ["Prices rose -- a typical trend before the holidays.", "Then someone threw a chair."],
    ["Read https://example.org/a.b?c=1 now.", "I'm coming for you \U0001F621\U0001F621 tonight!!!", "Ok..."],
    ["The fight started at 3.30 p.m. on Main St. near No. 5.", "Nobody called the police."],
]
PROBES = [
    ["Read https://example.org/a.b?c=1&d=2#top now.", "Then call me."],
    ["The form is at https://forms.example.net/report?id=77&lang=en.", "He sent it twice!"],
    ["Mail jane.doe+help@example.co.uk today.", "She answers fast."],
    ["See www.example.com/help/contact?topic=abuse for the number.", "It is free."],
    ["He owes me 1,000.25 dollars.", "That was in 2023."],
    ["She is 1.65 m tall and he is 1.90 m.", "He pushed her anyway."],
    ["The shelter (https://example.org/shelter/) opens at 7.30.", "Go early."],
    ["Is it https://example.org/faq?", "I think so."],
    ["Version 2.10.3 fixed it.", "Nobody noticed."],
    ["Did you see example.org/help?q=hit yesterday?", "It has a chat."],
    ["He told me.", "I cried all night."],
    ["I said no.", "I meant it."],
]
# Independent of core.text's masks on purpose: what counts as a span is judged here, not by the guard.
_SPANS = re.compile(r"https?://\S+|www\.\S+|\b[a-z][\w.-]*\.(?:org|com|net)/\S*|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
                    r"|\d+(?:[.,]\d+)+")
_TRAILING = ".,;:!?)"

Segment = Callable[[str], list[str]]


def _bare(segment: Segment) -> Callable[[str], list[str]]:
    """How the app split documents before this benchmark: paragraphs, the library, cleaned, non-empty."""
    def split(document: str) -> list[str]:
        out = []
        for paragraph in re.split(r"\n\s*\n", document):
            if paragraph.strip():
                out += [s for s in (clean_text(p) for p in segment(paragraph.strip())) if s]
        return out
    return split


def _guarded(segment: Segment) -> Callable[[str], list[str]]:
    return lambda document: _split_document(document, segment, MAX_SENTENCE_CHARS)


def splitters() -> dict[str, Callable[[str], list[str]]]:
    import sentencex

    def sentencex_segment(text: str) -> list[str]:
        return list(sentencex.segment("en", text))

    found: dict[str, Callable[[str], list[str]]] = {}
    try:
        import pysbd  # the app's splitter before; no longer a dependency
    except ImportError:
        print("pysbd is not installed (.venv/bin/pip install pysbd==0.3.4 to compare with it); "
              "ratios are against bare sentencex")
    else:
        pysbd_segmenter = pysbd.Segmenter(language="en", clean=False)

        def pysbd_segment(text: str) -> list[str]:
            return pysbd_segmenter.segment(text)

        found["pysbd (bare)"] = _bare(pysbd_segment)
        found["pysbd + guards"] = _guarded(pysbd_segment)
    found["sentencex (bare)"] = _bare(sentencex_segment)
    found["sentencex + guards (app)"] = _guarded(sentencex_segment)
    return found


def spans_in(text: str) -> list[str]:
    return [m.group().rstrip(_TRAILING) for m in _SPANS.finditer(text)]


def measure(split: Callable[[str], list[str]], documents: list[str], truth: list[list[str]] | None) -> str:
    """`sentences / exact / no letter or digit / spans cut`; exact counts the expected sentences
    given back word for word ("-" when the texts come without them)."""
    sentences, cut, exact = [], 0, 0
    for i, document in enumerate(documents):
        out = split(document)
        sentences += out
        cut += sum(1 for span in spans_in(document) if not any(span in s for s in out))
        if truth is not None:
            exact += len(set(out) & set(truth[i]))
    no_word = sum(not any(c.isalnum() for c in s) for s in sentences)
    return f"{len(sentences):>4} / {exact if truth is not None else '-':>3} / {no_word:>2} / {cut:>2}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20, help="passes over all texts for the timing")
    parser.add_argument("--cases", type=Path, help="the case file to read instead of the built-in copy")
    args = parser.parse_args()

    if args.cases:
        cases = [line for line in args.cases.read_text(encoding="utf-8").splitlines() if line.strip()]
        case_truth = None
    else:
        cases, case_truth = [" ".join(line) for line in CASE_FILE_COPY], CASE_FILE_COPY
    posts = json.loads(DEMO_FILE.read_text(encoding="utf-8"))["posts"]
    demo_truth = [[s["text"] for s in post["sentences"]] for post in posts]
    demo_docs = [" ".join(truth) for truth in demo_truth]
    probes = [" ".join(probe) for probe in PROBES]
    texts = {"case file": (cases, case_truth), "demo posts": (demo_docs, demo_truth), "probes": (probes, PROBES)}
    for name, (docs, truth) in texts.items():
        print(f"{name}: {len(docs)} texts, {sum(map(len, truth)) if truth else '?'} sentences, "
              f"{sum(len(spans_in(d)) for d in docs)} URLs/e-mails/decimals")
    print("columns per text: sentences / expected ones given back exactly / without a letter or digit / "
          "URLs, e-mails, decimals cut")
    header = f"{'splitter':26} " + " ".join(f"{name:>22}" for name in texts) + f" {'time':>8} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    baseline = None
    for name, split in splitters().items():
        split("Warm up. Once.")
        row = " ".join(f"{measure(split, docs, truth):>22}" for docs, truth in texts.values())
        all_docs = cases + demo_docs + probes
        started = time.perf_counter()
        for _ in range(args.repeat):
            for doc in all_docs:
                split(doc)
        seconds = time.perf_counter() - started
        baseline = baseline or seconds
        print(f"{name:26} {row} {seconds:>7.3f}s {seconds / baseline:>6.2f}")


if __name__ == "__main__":
    main()
