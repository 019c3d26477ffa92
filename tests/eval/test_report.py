"""Session 7 review: an evaluation report (JSON, HTML, items) never holds a credential."""

from __future__ import annotations

from lllm import Tactic
from lllm.eval import Report, evaluate_dataset, parse_variants

KEY = "sk-test-abcdef0123456789XYZ"
ECHOED = "sk-echoed-0123456789abcdefQRS"


class Agent1(Tactic, register=False):
    name = "agent1"
    agent_group = ["a"]

    def call(self, task: str) -> str:
        a = self.agents["a"]
        a.open("m")
        a.receive(task)
        return a.respond().content + f" (with {ECHOED})"


def test_a_variant_key_and_a_known_secret_stay_out_of_the_report(tmp_path):
    from lllm.secrets import register_secret

    register_secret(ECHOED)  # as an invoker registers the key it was built with
    cfg = {
        "global": {"model_name": "test", "model_args": {"temperature": 0}},
        "agent_configs": [{"name": "a", "system_prompt": "x"}],
    }
    variants = parse_variants([f"b:global.model_args.api_key={KEY}"])
    report = evaluate_dataset(Agent1, ["hi"], variants, ["success"], config=cfg, workers=1)
    assert report.variants[0].overrides["global.model_args.api_key"] == KEY  # the object itself is untouched
    for text in (report.to_json(tmp_path / "r.json"), report.to_html(tmp_path / "r.html")):
        assert KEY not in text and ECHOED not in text and "[REDACTED]" in text
    report.items[0].outcomes["b"].result = f"changed, {ECHOED}"  # a diff shows both outputs
    assert ECHOED not in report.items_text() and "[REDACTED]" in report.items_text()
    again = Report.load(tmp_path / "r.json")  # still a report
    assert again.summary["b"].metrics["success"].mean == 1.0
