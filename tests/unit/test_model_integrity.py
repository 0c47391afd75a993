"""A model head is loaded only when its file still has the checksum recorded when it was trained."""
from __future__ import annotations

import pytest

from core.errors import ModelIntegrityError, NotFound
from core.model_store import HEAD_FILE, sha256_file, verified_model_dir


def test_a_changed_head_is_refused_with_what_to_do(tmp_path):
    head = tmp_path / HEAD_FILE
    head.write_bytes(b"the trained head")
    recorded = sha256_file(head)
    assert verified_model_dir(str(tmp_path), recorded) == tmp_path
    head.write_bytes(b"a swapped-in pickle")
    with pytest.raises(ModelIntegrityError, match="does not match the checksum recorded when it was trained"):
        verified_model_dir(str(tmp_path), recorded)


def test_missing_model_files_say_so(tmp_path):
    with pytest.raises(NotFound, match="The model files are missing"):
        verified_model_dir(str(tmp_path / "gone"), "0" * 64)
