"""Session 7 review (c): the offline test model (``model="test"``) answered a ``format`` whose number has an
upper bound with a value above it (``Field(gt=0, lt=1)`` got 1.0, ``Field(le=-1)`` got 1), so the answer
failed its own validation and an offline run of such an agent failed every time."""

from __future__ import annotations

import jsonschema
from pydantic import BaseModel, Field

from lllm import Agent, Prompt
from lllm.testing import sample_json


class Verdict(BaseModel):
    label: str
    confidence: float = Field(gt=0, lt=1)
    share: float = Field(ge=0, le=0.5)
    delta: int = Field(le=-1)
    stars: int = Field(ge=0, le=0)
    rate: float = Field(lt=0)
    odd: int = Field(gt=2, lt=4)


def test_an_offline_format_answer_respects_upper_bounds():
    agent = Agent(name="a", system_prompt="s", model="test")
    agent.open("d")
    agent.receive_prompt(Prompt(path="t/verdict", prompt="Judge {label}", format=Verdict), {"label": "x"})
    verdict = agent.respond().parsed_as(Verdict)
    assert 0 < verdict.confidence < 1 and verdict.delta <= -1 and verdict.odd == 3


def test_sample_json_values_fit_their_bounds():
    schema = Verdict.model_json_schema()
    jsonschema.validate(sample_json(schema), schema)
