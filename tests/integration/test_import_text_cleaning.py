"""Through the importer into a real SQLite file: invisible characters and documents-mode splitting
(core.text) decide what becomes a sentence, what is a duplicate and what is rejected as empty."""
from __future__ import annotations

import json

from sqlalchemy import select

from core.importing import MAX_TEXT_CHARS, commit_import, parse_file
from db.models import Sentence
from tests.helpers import ADMIN


def stored_texts(db, project_id: int) -> list[str]:
    with db.read() as session:
        return list(session.scalars(
            select(Sentence.text).where(Sentence.project_id == project_id).order_by(Sentence.id)))


def test_invisible_only_rows_are_rejected_as_empty_and_invisible_variants_are_duplicates(db, project) -> None:
    data = ("text\n"
            "He hit me.\n"
            "\u200b\u2060\n"  # line 3: zero-width space and word joiner only
            "He\u200b hit\u00ad me.\n"  # line 4: the sentence of line 2 with a zero-width space, a soft hyphen
            "\ufeffShe left.\n"  # line 5: a byte-order mark inside the text
            "She\u200d left.\u200c\n").encode()
    parsed = parse_file(data, "rows.csv")
    assert [(r.line, r.reason) for r in parsed.rejected] == [(3, "empty text")]
    result = commit_import(db, ADMIN, project.id, parsed)
    assert (result.added, result.duplicates, result.rejected) == (2, 2, 1)
    assert stored_texts(db, project.id) == ["He hit me.", "She left."]


def test_documents_mode_keeps_urls_whole_and_never_stores_a_letterless_sentence(db, project) -> None:
    post = ("He left the party .. Later he came back with a bat. The photo in Fig. ?? shows the bruise. "
            "Read https://example.org/a.b?c=1 now. I'm coming for you \U0001F621\U0001F621 tonight!!! Ok...")
    data = json.dumps({"text": post, "document": "p1"}).encode()
    result = commit_import(db, ADMIN, project.id, parse_file(data, "posts.jsonl", documents=True))
    assert (result.added, result.rejected) == (6, 0)
    assert stored_texts(db, project.id) == [
        "He left the party ..",
        "Later he came back with a bat.",
        "The photo in Fig. ?? shows the bruise.",
        "Read https://example.org/a.b?c=1 now.",
        "I'm coming for you \U0001F621\U0001F621 tonight!!!",
        "Ok...",
    ]


def test_a_long_unpunctuated_chat_message_is_split_into_pieces_the_importer_keeps(db, project) -> None:
    run_on = " ".join(["and then he grabbed my phone and shouted at me and pushed me into the wall"] * 35)
    message = f"Short first sentence. {run_on}. Short last sentence."
    data = (json.dumps({"text": message, "document": "chat-1"}) + "\n").encode()
    parsed = parse_file(data, "chat.jsonl", documents=True)
    assert parsed.rejected == ()
    assert [len(r.text) for r in parsed.rows] == [21, 1_307, 1_317, 20]
    assert max(len(r.text) for r in parsed.rows) <= MAX_TEXT_CHARS
    result = commit_import(db, ADMIN, project.id, parsed)
    assert (result.added, result.rejected) == (4, 0)
    assert " ".join(stored_texts(db, project.id)) == message
