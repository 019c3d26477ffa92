"""The travel-brief package tool `travel_brief.tools:get_climate`: a small offline climate table."""
from __future__ import annotations

from typing import Literal

from lllm import tool

# Monthly climate normals (°C highs / lows, rainy days) for a handful of cities, rounded.
CLIMATE = {
    "lisbon": {"country": "Portugal", "high": [15, 16, 19, 20, 22, 26, 28, 29, 27, 23, 18, 15],
               "low": [8, 9, 11, 12, 14, 17, 18, 19, 18, 15, 11, 9], "rain_days": [10, 9, 8, 9, 6, 2, 1, 1, 4, 8, 10, 11]},
    "oslo": {"country": "Norway", "high": [-2, -1, 4, 10, 16, 20, 22, 21, 16, 9, 3, -1],
             "low": [-7, -7, -4, 1, 6, 10, 13, 12, 8, 3, -2, -6], "rain_days": [10, 8, 9, 8, 9, 10, 11, 12, 10, 11, 11, 10]},
    "tokyo": {"country": "Japan", "high": [10, 11, 14, 19, 23, 26, 30, 31, 27, 22, 17, 12],
              "low": [1, 2, 5, 10, 15, 19, 23, 24, 21, 15, 9, 4], "rain_days": [5, 6, 11, 11, 11, 13, 12, 9, 12, 10, 7, 5]},
    "nairobi": {"country": "Kenya", "high": [26, 27, 26, 24, 23, 22, 21, 22, 24, 25, 23, 24],
                "low": [12, 12, 14, 15, 14, 12, 11, 11, 11, 13, 14, 13], "rain_days": [5, 4, 9, 16, 12, 5, 4, 4, 4, 7, 15, 10]},
}
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december"]
Month = Literal["january", "february", "march", "april", "may", "june", "july", "august", "september",
                "october", "november", "december"]


@tool
def get_climate(city: str, month: Month = "june") -> str:
    """Typical weather of a city in a given month.

    Args:
        city: City name, e.g. "Lisbon".
        month: Month of the trip, lower case.
    """
    data = CLIMATE.get(city.strip().lower())
    if data is None:
        raise ValueError(f"no climate data for {city!r}; known cities: {sorted(c.title() for c in CLIMATE)}")
    m = MONTHS.index(month)
    return (f"{city.title()} ({data['country']}) in {month.title()}: highs around {data['high'][m]}°C, "
            f"lows around {data['low'][m]}°C, about {data['rain_days'][m]} rainy days.")
