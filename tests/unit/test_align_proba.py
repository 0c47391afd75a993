"""Probabilities are mapped to project labels through the head's classes, never by column position."""
from __future__ import annotations

import numpy as np
import pytest

from core.classifier import align_proba, head_classes


class HeadWithoutInsult:
    """What sklearn's LogisticRegression is after fitting on labels 0 and 2 of a three-label project."""

    classes_ = np.array([0, 2])

    def predict_proba(self, embeddings):
        return np.array([[0.1, 0.9], [0.8, 0.2]])[: len(embeddings)]


def test_a_head_that_never_saw_label_1_puts_its_columns_under_labels_0_and_2():
    head = HeadWithoutInsult()
    aligned = align_proba(head.predict_proba(np.zeros((2, 4))), head_classes(head), 3)
    assert aligned.tolist() == [[0.1, 0.0, 0.9], [0.8, 0.0, 0.2]]
    # The second sentence's likeliest label is 2 ("violence"), not column 1 ("insult").
    assert aligned.argmax(axis=1).tolist() == [2, 0]


def test_a_real_sklearn_head_without_examples_of_a_label():
    from sklearn.linear_model import LogisticRegression

    x = np.array([[0.0, 1.0], [0.1, 0.9], [1.0, 0.0], [0.9, 0.1]])
    head = LogisticRegression().fit(x, [0, 0, 2, 2])
    aligned = align_proba(head.predict_proba(x), head_classes(head), 3)
    assert aligned.shape == (4, 3)
    assert aligned[:, 1].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert aligned.argmax(axis=1).tolist() == [0, 0, 2, 2]
    np.testing.assert_allclose(aligned.sum(axis=1), 1.0)


def test_a_head_that_saw_every_label_is_unchanged_and_one_without_classes_is_taken_in_order():
    probs = np.array([[0.2, 0.3, 0.5]])
    assert align_proba(probs, [0, 1, 2], 3).tolist() == [[0.2, 0.3, 0.5]]
    assert align_proba(probs, None, 3).tolist() == [[0.2, 0.3, 0.5]]
    assert head_classes(object()) is None
    assert align_proba(np.zeros((0, 2)), [0, 2], 3).shape == (0, 3)


def test_columns_and_classes_that_do_not_fit_the_project_are_refused():
    with pytest.raises(ValueError, match="2 probability columns but 3 classes"):
        align_proba(np.array([[0.5, 0.5]]), [0, 1, 2], 3)
    with pytest.raises(ValueError, match=r"label values \[3\]"):
        align_proba(np.array([[0.5, 0.5]]), [0, 3], 3)
