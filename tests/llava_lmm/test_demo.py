"""The LLaVA demo step's controls: the shuffled-image mapping and the per-kind accuracy table."""
from llava_lmm.demo import accuracy_by_kind, shuffled_images


def test_shuffled_images_never_keep_an_image():
    images = ["b.jpg", "a.jpg", "c.jpg", "a.jpg"]
    other = shuffled_images(images)
    assert other == {"a.jpg": "b.jpg", "b.jpg": "c.jpg", "c.jpg": "a.jpg"}
    assert shuffled_images(["only.jpg"]) == {"only.jpg": "only.jpg"}


def test_accuracy_by_kind_hand_computed():
    qs = [{"question_id": 0, "text": "Which of grass, water and sand is not in the image?\nAnswer briefly."},
          {"question_id": 1, "text": "Which of grass, water and sand is not in the image?\nAnswer briefly."},
          {"question_id": 2, "text": "How many red circles are there?"},
          {"question_id": 3, "text": "Tell me a story."}]
    gt = {0: "sand", 1: "water", 2: "2", 3: "no"}
    image = [{"question_id": 0, "text": "sand"}, {"question_id": 1, "text": "Water."}, {"question_id": 2, "text": "two"},
             {"question_id": 3, "text": "No"}]
    blank = [{"question_id": i, "text": "grass"} for i in range(4)]
    got = accuracy_by_kind(qs, gt, {"image": image, "blank_image": blank})
    # EvalAI normalisation: "Water." = "water", "two" = "2", "No" = "no"
    assert got == {"count": {"num": 1, "image": 1.0, "blank_image": 0.0},
                   "ground": {"num": 2, "image": 1.0, "blank_image": 0.0},
                   "other": {"num": 1, "image": 1.0, "blank_image": 0.0}}
    image[1]["text"] = "sand"
    assert accuracy_by_kind(qs, gt, {"image": image})["ground"] == {"num": 2, "image": 0.5}
