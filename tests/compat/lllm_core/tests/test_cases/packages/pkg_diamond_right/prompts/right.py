"""Right branch prompt."""
from lllm.core.prompt import Prompt

right_prompt = Prompt(
    path="right_prompt",
    prompt="I am the right branch, depending on shared.",
)
