"""The Import tab's preview rendered by AppTest: what it says about a file, with the file's own text escaped.

(AppTest cannot upload a file; tests/e2e/test_import_browser.py uploads real ones in a browser.)
"""
from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _script() -> None:
    from core.importing import ImportPreview, LabelConflict, parse_file
    from ui import import_preview

    data = ('sep=;\ntext;label;[click](http://x.example)\n**Bold** claim;Insult;a\nYou fool;insult ;b\n'
            '"stray;other;c\n').encode()
    parsed = parse_file(data, "x.csv")
    preview = ImportPreview(parsed=parsed, new=2, already_present=0, label_counts={"insult": 2},
                            rejected=parsed.rejected, duplicates=0,
                            conflicts=(LabelConflict("**Bold** claim", (3, 9), (("ana", "insult"), ("ben", "other"))),))
    import_preview.render(preview)
    import_preview.render_rejects(preview)


def test_the_preview_says_how_the_file_was_read_and_escapes_the_files_text():
    at = AppTest.from_function(_script, default_timeout=30).run()
    assert not at.exception, at.exception
    assert [m.value for m in at.markdown] == [
        r"**Read as** CSV, semicolon\-separated \(from its sep\= line\) · encoding UTF\-8",
        "**3 rows read, 1 rejected**",
    ]
    assert [c.value for c in at.caption] == [
        "Ignored columns: \\[click\\]\\(\u2060http\\://x\\.example\\)",  # a column name is text, never a link
        r"Labels in the file: insult\: 2",
        "'Insult' and 'insult ' were read as one label",
    ]
    assert [w.value.split(".")[0] for w in at.warning] == [
        "1 sentence(s) are given different labels in this file", "1 row(s) will not be imported; the rest are fine"]
    assert [m.value for m in at.metric] == ["2", "0", "0", "1"]
    conflicts, rows, rejects = (d.value for d in at.dataframe)
    assert conflicts.to_dict("records") == [{"text": "**Bold** claim", "lines": "3, 9", "labels": "ana: insult · ben: other"}]
    assert rows["text"].tolist() == ["**Bold** claim", "You fool"]
    assert rejects[["line", "as written"]].to_dict("records") == [{"line": 5, "as written": '"stray;other;c'}]
