"""Fork-and-rerun with an edited prompt: ``rerun(..., prompts={key: template})`` (issue #13)."""

from __future__ import annotations

import threading

import pytest

from lllm import Prompt, Tactic, TacticCallSession
from lllm.core.dialog import Dialog, prompt_substitute
from lllm.errors import ConfigError
from lllm.logging.replay import prompt_edits, rerun, session_prompts
from lllm.packages.runtime import Runtime
from lllm.testing import MockInvoker

ASK = Prompt(path="fork/ask", prompt="Research {topic}.")  # module level, never registered: keyed by its path

CONFIG = {
    "global": {"model_name": "mock-model"},
    "agent_configs": [
        {"name": "researcher", "system_prompt_path": "pkg.prompts:system"},
        {"name": "writer", "system_prompt": "You write."},
    ],
}


class Pair(Tactic, register=False):
    name = "pair"
    agent_group = ["researcher", "writer"]

    def call(self, task: str) -> str:
        r, w = self.agents["researcher"], self.agents["writer"]
        r.open("main")
        r.receive_prompt(ASK, {"topic": task})
        notes = r.respond().content
        w.open("main")
        w.receive_prompt("pkg.prompts:write", {"notes": notes, "topic": task})  # looked up in the runtime
        return w.respond().content


def runtime() -> Runtime:
    rt = Runtime("fork-prompts")
    rt.register_prompt(Prompt(path="system", prompt="You research."), namespace="pkg")
    rt.register_prompt(Prompt(path="write", prompt="Write on {topic} from: {notes}"), namespace="pkg")
    return rt


def record(rt: Runtime) -> TacticCallSession:
    s = Pair(CONFIG, runtime=rt, invoker=MockInvoker(["notes on tides", "Tides rise."]))("tides", return_session=True)
    s.session_id = "20260101_000000_f0f0f0f0"
    return TacticCallSession.model_validate_json(s.model_dump_json())  # as loaded back from a store


def sent(inv: MockInvoker) -> list:
    return [[m.content for m in r.messages] for r in inv.requests]


def test_an_edited_package_prompt_reaches_the_model_and_the_runtime_keeps_the_original():
    rt = runtime()
    recorded = record(rt)
    original = rt.get_prompt("pkg.prompts:write")
    generation = rt.generation
    live = MockInvoker(["Tides rise and fall."])
    new = rerun(
        recorded, tactic=Pair, runtime=rt, invoker=live, prompts={"write": "Summarise {notes} in one line."}
    )  # the short path names pkg.prompts:write
    assert sent(live) == [["You write.", "Summarise notes on tides in one line."]]
    assert new.delivery == "Tides rise and fall." and new.metadata["replayed_calls"] == 1
    assert new.metadata["prompt_overrides"] == {"pkg.prompts:write": "Summarise {notes} in one line."}
    assert new.metadata["diverged_at"]["agent"] == "writer"
    written = new.dialogs["writer"][0]["messages"][1]["metadata"]
    assert written["prompt_key"] == "pkg.prompts:write" and written["prompt_hash"] != original.prompt_hash
    # the parent runtime and its prompt object are untouched, and nothing is left in the context
    assert rt.get_prompt("pkg.prompts:write") is original and original.prompt == "Write on {topic} from: {notes}"
    assert rt.generation == generation and prompt_substitute.get() is None
    again = MockInvoker(["n", "d"])
    Pair(CONFIG, runtime=rt, invoker=again)("tides")
    assert sent(again)[1][1] == "Write on tides from: n"


def test_a_module_level_prompt_and_a_system_prompt_are_edited_by_their_recorded_keys():
    rt = runtime()
    recorded = record(rt)
    live = MockInvoker(["other notes", "Done."])
    new = rerun(
        recorded,
        tactic=Pair,
        runtime=rt,
        invoker=live,
        prompts={"fork/ask": "Dig into {topic}!", "pkg.prompts:system": "You research deeply."},
    )
    assert sent(live)[0] == ["You research deeply.", "Dig into tides!"]
    assert new.metadata["replayed_calls"] == 0 and ASK.prompt == "Research {topic}."


def test_the_edit_stays_in_its_own_run_while_another_thread_renders_the_original():
    rt = runtime()
    recorded = record(rt)
    seen: list = []

    def render() -> str:
        return Dialog(runtime=rt).put_prompt(ASK, {"topic": "waves"}).content

    def during_the_fork(dialog):  # runs inside the fork: its context has the edit, a new thread does not
        seen.append(render())
        t = threading.Thread(target=lambda: seen.append(render()))
        t.start()
        t.join(10)
        return "notes"

    rerun(
        recorded,
        tactic=Pair,
        runtime=rt,
        invoker=MockInvoker([during_the_fork, "x"]),
        prompts={"fork/ask": "Dig {topic}"},
    )
    assert seen == ["Dig waves", "Research waves."] and render() == "Research waves."


def test_bad_prompt_edits_name_the_key_and_what_to_fix():
    rt = runtime()
    recorded = record(rt)
    with pytest.raises(ConfigError, match=r"prompt 'pkg.prompts:writ': no such prompt .*Did you mean") as ei:
        rerun(recorded, tactic=Pair, runtime=rt, invoker=MockInvoker([]), prompts={"pkg.prompts:writ": "x"})
    assert "fork/ask" in str(ei.value)  # lists what the session rendered
    with pytest.raises(ConfigError, match=r"'pkg.prompts:write'.*placeholder\(s\) \['tone'\].*\['notes', 'topic'\]"):
        prompt_edits(recorded, {"pkg.prompts:write": "{notes} in a {tone} tone"}, runtime=rt, tactic=Pair)
    with pytest.raises(ConfigError, match=r"'fork/ask': the new template does not parse"):
        prompt_edits(recorded, {"fork/ask": "Research {topic"}, runtime=rt, tactic=Pair)
    with pytest.raises(ConfigError, match=r"'fork/ask': the new template is the recorded one"):
        prompt_edits(recorded, {"fork/ask": "Research {topic}."}, runtime=rt, tactic=Pair)
    rt.register_prompt(Prompt(path="write", prompt="Other {notes}"), namespace="other")
    with pytest.raises(ConfigError, match=r"'write' is ambiguous.*other.prompts:write.*pkg.prompts:write"):
        prompt_edits(recorded, {"write": "{notes}"}, runtime=rt, tactic=Pair)


def test_session_prompts_lists_each_rendered_prompt_with_its_template_and_arguments():
    rt = runtime()
    uses = session_prompts(record(rt), runtime=rt, tactic=Pair)
    assert sorted(uses) == ["_inline/writer/system", "fork/ask", "pkg.prompts:system", "pkg.prompts:write"]
    assert uses["fork/ask"].template == "Research {topic}." and uses["fork/ask"].agents == ["researcher"]
    assert uses["pkg.prompts:write"].allowed_args() == frozenset({"notes", "topic"})
    # without the runtime or the tactic's module, a dialog's top-prompt snapshot still gives the text
    bare = session_prompts(record(rt))
    assert bare["pkg.prompts:write"].template == "Write on {topic} from: {notes}" and bare["fork/ask"].template
