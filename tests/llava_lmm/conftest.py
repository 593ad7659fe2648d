import warnings

import pytest

CORPUS = [
    "What colour is the circle? Answer the question using a single word or phrase.",
    "What shape is the red object? How many red circles are there? Is there a blue square in the image?",
    "red green blue yellow circle square triangle left right Yes No one two three",
    "Describe the image concisely. a red circle and two blue squares on sky and grass",
    "Which shapes exist in this world? circles, squares and triangles",
]


@pytest.fixture(scope="session")
def tok():
    from llava_lmm.data.tokenizer import corpus_from_llava_json, train_tiny_tokenizer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return train_tiny_tokenizer(corpus_from_llava_json([]), vocab_size=400, extra_texts=CORPUS * 5)
