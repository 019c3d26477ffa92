"""The travel-brief tactic: a researcher agent gathers facts with a tool, a writer agent turns the
notes into a structured brief. Two agents, one package tool, typed input and structured output."""
from __future__ import annotations

from typing import List, Literal

from pydantic import BaseModel, Field

from lllm import Prompt, Tactic


class TripRequest(BaseModel):
    city: str = Field(description="Destination city")
    month: str = Field(default="june", description="Month of travel")
    days: int = Field(default=3, ge=1, le=30)


class TravelBrief(BaseModel):
    city: str
    summary: str = Field(description="Two or three sentences on what the trip will be like")
    packing_list: List[str] = Field(description="Items to pack, most important first")
    rain_risk: Literal["low", "medium", "high"]


research_prompt = Prompt(
    path="travel/research",
    prompt="Research a {days}-day trip to {city} in {month}. Use the tools for facts, then write short notes.",
    function_list=["travel_brief.tools:get_climate"],  # the package tool in tools/get_climate.py
)
brief_prompt = Prompt(
    path="travel/brief",
    prompt="Write a travel brief for {city} from these research notes:\n\n{notes}",
    format=TravelBrief,
)


class TravelBriefTactic(Tactic):
    """Plan a trip: research the destination, then write a structured brief."""

    name = "travel_brief"
    agent_group = ["researcher", "writer"]

    def call(self, task: TripRequest) -> TravelBrief:
        researcher = self.agents["researcher"]
        researcher.open("research")
        researcher.receive_prompt(research_prompt, {"city": task.city, "month": task.month.lower(), "days": task.days})
        notes = researcher.respond()

        writer = self.agents["writer"]
        writer.open("brief")
        writer.receive_prompt(brief_prompt, {"city": task.city, "notes": notes.content})
        return writer.respond().parsed_as(TravelBrief)
