"""RemoteTactic rebuilds the remote output model from its JSON Schema, nested models and lists included."""

from __future__ import annotations

from typing import List, Optional

import pytest
from pydantic import BaseModel, ValidationError

from lllm.serve.client import model_from_schema


class Stop(BaseModel):
    city: str
    nights: int = 1


class Leg(BaseModel):
    origin: Stop
    via: Optional[Stop] = None


class Trip(BaseModel):
    title: str
    legs: List[Leg]
    tags: List[str] = []
    budget: Optional[float] = None
    notes: dict = {}


def test_nested_models_lists_and_optionals_are_rebuilt():
    Rebuilt = model_from_schema(Trip.model_json_schema())
    assert Rebuilt is not None and Rebuilt.__name__ == "Trip"
    data = Trip(title="t", legs=[Leg(origin=Stop(city="Oslo"), via=Stop(city="Bergen", nights=2))], tags=["a"])
    trip = Rebuilt.model_validate(data.model_dump(mode="json"))
    assert trip.legs[0].origin.city == "Oslo" and trip.legs[0].via.nights == 2 and trip.legs[0].origin.nights == 1
    assert isinstance(trip.legs[0].origin, BaseModel) and trip.tags == ["a"] and trip.budget is None
    assert trip.model_dump() == data.model_dump()


def test_the_rebuilt_model_validates_like_the_original():
    Rebuilt = model_from_schema(Trip.model_json_schema())
    with pytest.raises(ValidationError, match="legs.0.origin.city"):
        Rebuilt.model_validate({"title": "t", "legs": [{"origin": {"nights": 2}}]})


def test_a_schema_that_is_not_an_object_gives_no_model():
    assert model_from_schema({"type": "string"}) is None
    assert model_from_schema({"type": "object"}) is None  # a free-form mapping: results stay dicts
