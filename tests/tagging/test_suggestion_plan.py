"""What writing new model suggestions does to a photo's tags (api/tagging/plan.py): a pure rule,
shared by the worker that writes them and the preview that predicts them."""

from __future__ import annotations

from api.tagging.plan import Existing, plan, shown_after, shown_now, top_suggestion


def model(score: float, state: str = "suggested", *, reviewed: bool = False) -> Existing:
    return Existing(source="model", state=state, score=score, reviewed=reviewed)


def person(state: str, *, reviewed: bool = True) -> Existing:
    return Existing(source="user", state=state, score=None, reviewed=reviewed)


PEOPLES_AND_REVIEWED = {
    "beach": person("confirmed"),
    "boat": person("suggested"),  # someone else's suggestion, waiting for a second person
    "snow": model(0.8, "rejected", reviewed=True),
    "sea": model(0.6, "confirmed", reviewed=True),
    "sand": model(0.4, reviewed=True),  # votes that disagree leave it suggested
}


def test_tags_people_added_or_voted_on_are_never_touched_whatever_the_model_wants() -> None:
    wanted = {"beach": 0.9, "boat": 0.9, "snow": 0.99, "sea": 0.2, "sand": 0.95}

    steps = plan(PEOPLES_AND_REVIEWED, wanted)

    assert (steps.stale, steps.fresh, steps.rescored) == ([], [], [])
    assert plan(PEOPLES_AND_REVIEWED, {}).stale == []


def test_unreviewed_suggestions_are_removed_rescored_or_added_as_the_new_model_says() -> None:
    existing = {"dog": model(0.7), "cat": model(0.3), **PEOPLES_AND_REVIEWED}

    steps = plan(existing, {"cat": 0.9, "puppy": 0.6})

    assert (steps.stale, steps.fresh, steps.rescored) == (["dog"], ["puppy"], ["cat"])


def test_a_photo_shows_only_model_suggestions_and_a_reviewed_one_keeps_its_score_after_writing() -> None:
    existing = {"dog": model(0.7), **PEOPLES_AND_REVIEWED}

    assert shown_now(existing) == {"dog": 0.7, "sand": 0.4}
    after = shown_after(existing, {"snow": 0.99, "sand": 0.95, "puppy": 0.5})

    assert after == {"sand": 0.4, "puppy": 0.5}  # dog removed, snow stays rejected, sand as voted on
    assert top_suggestion(after) == "puppy"


def test_the_suggestion_shown_first_has_the_best_score_ties_by_name_and_none_without_any() -> None:
    assert top_suggestion({"b": 0.5, "a": 0.5, "c": 0.4}) == "a"
    assert top_suggestion({"z": 0.9, "a": 0.1}) == "z"
    assert top_suggestion({}) is None
