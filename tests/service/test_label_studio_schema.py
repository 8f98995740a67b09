"""Label Studio labeling configs and the conversions to and from prelabel's JSON (pure functions)."""

from __future__ import annotations

import pytest

from prelabel.domain import parse_interface
from prelabel.errors import InvalidInput
from prelabel.service.label_studio_schema import (
    fits,
    label_config_for,
    newest_answer,
    parse_label_config,
    prediction_for,
    response_from_result,
    result_from_response,
    schema_for,
    task_external_id,
)

CONFIG = """<View>
  <Header value="Ignored: not right before a Choices"/>
  <Text name="tweet" value="$content"/>
  <View><Header value="What is it about?"/>
    <Choices name="topic" toName="tweet" choice="multiple">
      <Choice value="Fire &amp; smoke" hotkey="f"/><Choice value="Fire / smoke" hotkey="f"/>
      <Choice value="-odd" alias="odd-alias"/>
    </Choices>
  </View>
  <Choices name="bad name!" toName="tweet" required="true"><Choice value="yes"/><Choice value="no"/></Choices>
  <TextArea name="note" toName="tweet"/>
</View>"""


def test_keys_come_from_the_stored_values_and_stay_unique() -> None:
    schema = parse_label_config(CONFIG)
    assert schema.text_key == "content"
    topic, bad = schema.jobs
    assert (topic.job, topic.multi, topic.required, topic.instruction) == ("topic", True, False, "What is it about?")
    assert [(c.value, c.key, c.name, c.hotkey) for c in topic.choices] == [
        ("Fire & smoke", "Fire_smoke", "Fire & smoke", "f"),
        ("Fire / smoke", "Fire_smoke_2", "Fire / smoke", None),  # the second "f" would clash
        ("odd-alias", "odd-alias", "-odd", None),
    ]
    assert (bad.job, bad.multi, bad.required, bad.instruction) == ("bad_name", False, True, "")
    assert parse_label_config(CONFIG) == schema  # the same config, the same mapping


def test_results_and_responses_convert_both_ways() -> None:
    schema = parse_label_config(CONFIG)
    result = [
        {"from_name": "topic", "to_name": "tweet", "type": "choices",
         "value": {"choices": ["Fire / smoke", "odd-alias"]}},
        {"from_name": "bad name!", "to_name": "tweet", "type": "choices", "value": {"choices": ["yes"]}},
        {"from_name": "note", "to_name": "tweet", "type": "textarea", "value": {"text": ["skipped"]}},
    ]
    response = response_from_result(schema, result, "here")
    assert response == {"topic": {"categories": [{"name": "Fire_smoke_2"}, {"name": "odd-alias"}]},
                        "bad_name": {"categories": [{"name": "yes"}]}}
    assert result_from_response(schema, response) == result[:2]
    assert response_from_result(schema, [], "here") is None
    with pytest.raises(InvalidInput, match="'maybe' is not one of 'bad name!'"):
        response_from_result(schema, [{"from_name": "bad name!", "type": "choices", "value": {"choices": ["maybe"]}}],
                             "here")


def test_scores_are_the_probability_of_what_is_shown() -> None:
    schema = parse_label_config(CONFIG)
    pred = prediction_for(schema, {
        "bad_name": {"categories": [{"name": "no", "probability": 0.55}], "probabilities": {"yes": 0.45, "no": 0.55}},
        "topic": {"categories": [], "probabilities": {"Fire_smoke": 0.1, "Fire_smoke_2": 0.3, "odd-alias": 0.05}},
    }, "prelabel-automl-2")
    # nothing chosen for the multi-choice job: no result item, but its "no" decisions count (least sure: 0.7)
    assert pred == {"result": [{"from_name": "bad name!", "to_name": "tweet", "type": "choices",
                                "value": {"choices": ["no"]}, "score": 0.55}],
                    "score": 0.55, "model_version": "prelabel-automl-2"}


def test_a_generated_config_gives_back_the_interface() -> None:
    interface = parse_interface({"jobs": [
        {"name": "JOB_0", "instruction": "Disaster?", "categories": [
            {"key": "DISASTER", "name": "Disaster", "hotkey": "d", "description": "A real one"},
            {"key": "NOT_DISASTER", "name": "Disaster"}]},  # same display name: the values are the keys
    ]})
    config = label_config_for(interface)
    assert '<Choice value="DISASTER" alias="DISASTER" hint="A real one" hotkey="d"/>' in config
    back = schema_for(interface).interface()
    assert fits(interface, schema_for(interface))
    assert [c.key for c in back.jobs[0].categories] == ["DISASTER", "NOT_DISASTER"]
    assert back.jobs[0].instruction == "Disaster?" and back.jobs[0].categories[0].hotkey == "d"


def test_fits_needs_the_same_jobs_and_categories() -> None:
    schema = parse_label_config(CONFIG)
    same = schema.interface()
    assert fits(same, schema)
    more = parse_interface({"jobs": [*same.model_dump()["jobs"], {"name": "extra", "categories": [
        {"key": "a"}, {"key": "b"}]}]})
    assert not fits(more, schema)  # a required job Label Studio never answers
    fewer = parse_interface({"jobs": [same.model_dump()["jobs"][1]]})
    assert not fits(fewer, schema)


def test_ids_and_newest_answers() -> None:
    assert task_external_id({"id": 5, "meta": {"external_id": "tw-1"}}, "t") == "tw-1"
    assert task_external_id({"id": 5, "meta": {}}, "t") == "ls-5"
    assert task_external_id({"data": {}}, "t") is None
    with pytest.raises(InvalidInput, match="integer"):
        task_external_id({"id": "5"}, "t")
    schema = parse_label_config(CONFIG)

    def ann(choice: str, created: str = "", cancelled: bool = False) -> dict[str, object]:
        return {"result": [{"from_name": "bad name!", "type": "choices", "value": {"choices": [choice]}}],
                "created_at": created, "was_cancelled": cancelled}

    assert newest_answer(schema, [ann("yes"), ann("no")], "t") == {"bad_name": {"categories": [{"name": "no"}]}}
    assert newest_answer(schema, [ann("no", "2026-02"), ann("yes", "2026-01"), ann("no", "2026-03", True)], "t") == {
        "bad_name": {"categories": [{"name": "no"}]}}
