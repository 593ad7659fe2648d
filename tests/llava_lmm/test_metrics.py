"""Scorers: exact values on hand-made cases."""
import pytest

from llava_lmm.metrics import (majority_baselines, normalize_vqa_answer, pope_label, pope_score, sqa_letter,
                               vqa_accuracy, gqa_prediction)


def test_vqa_normalisation_and_accuracy():
    assert normalize_vqa_answer("Two dogs.") == "2 dogs"
    assert normalize_vqa_answer("The Cat!") == "cat"
    assert normalize_vqa_answer("dont") == "don't"
    gts = ["coca cola"] * 2 + ["coke"] * 8
    assert vqa_accuracy("Coca Cola", gts) == pytest.approx((8 * (2 / 3) + 2 * (1 / 3)) / 10)
    assert vqa_accuracy("coke", gts) == 1.0
    assert vqa_accuracy("pepsi", gts) == 0.0


def test_pope():
    assert pope_label("No, there is not.") == "no" and pope_label("Yes. No doubt") == "yes"
    r = pope_score([{"question_id": 1, "text": "Yes"}, {"question_id": 2, "text": "No"},
                    {"question_id": 3, "text": "Yes"}], [{"question_id": 1, "label": "yes"},
                                                         {"question_id": 2, "label": "yes"},
                                                         {"question_id": 3, "label": "no"}])
    assert (r["TP"], r["FN"], r["FP"], r["TN"]) == (1, 1, 1, 0) and r["f1"] == pytest.approx(0.5)


def test_sqa_and_gqa():
    opts = ["a", "b", "c"]
    assert sqa_letter("B", opts) == "B" and sqa_letter("C. c", opts) == "C"
    assert sqa_letter("The answer is A.", opts) == "A" and sqa_letter("D", opts) == "FAILED"
    assert gqa_prediction(" Left.") == "left"


def test_majority_baselines():
    train = [("How many x?", "0"), ("How many y?", "0"), ("Is there a z?", "Yes"), ("Is there q?", "Yes"),
             ("Is there w?", "No")]
    test = [("How many a?", "0"), ("Is there b?", "Yes"), ("Is there c?", "No")]
    b = majority_baselines(train, test)
    assert b["majority_answer"] == "0" and b["majority_accuracy"] == pytest.approx(1 / 3)
    assert b["per_type_majority_accuracy"] == pytest.approx(2 / 3)
