"""Session records share one fields-set while in flight; sharing must never show."""

import copy
import pickle

from lllm.core.sessions import AgentCallSession, TacticCallSession


def _agent(name: str = "a") -> AgentCallSession:
    return AgentCallSession(agent_name=name, model="m", max_interrupt_steps=4)


def test_records_built_alike_share_one_fields_set_until_one_changes() -> None:
    a, b = _agent("a"), _agent("b")
    assert a.__pydantic_fields_set__ is b.__pydantic_fields_set__
    a.state = "success"
    assert a.model_fields_set == {"agent_name", "model", "max_interrupt_steps", "state"}
    assert b.model_fields_set == {"agent_name", "model", "max_interrupt_steps"}
    assert _agent("c").model_fields_set == {"agent_name", "model", "max_interrupt_steps"}


def test_changing_model_fields_set_in_place_changes_only_that_record() -> None:
    a, b = _agent("a"), _agent("b")
    a.model_fields_set.add("reason")
    assert "reason" not in b.model_fields_set
    del a.reason
    assert "reason" not in _agent("c").model_fields_set


def test_copies_pickles_and_dumps_behave_as_with_a_set_of_their_own() -> None:
    a = _agent()
    for other in (copy.copy(a), copy.deepcopy(a), pickle.loads(pickle.dumps(a)), a.model_copy()):
        assert other == a
        other.state = "failure"
        assert a.state == "initial" and "state" not in a.model_fields_set
        assert "state" not in _agent().model_fields_set
    changed = a.model_copy(update={"reason": "deadline"})
    assert "reason" in changed.model_fields_set and "reason" not in a.model_fields_set
    assert a.model_dump(exclude_unset=True) == {"agent_name": "a", "model": "m", "max_interrupt_steps": 4}


def test_a_loaded_tactic_session_shares_and_unshares_the_same_way() -> None:
    t = TacticCallSession(tactic_name="t", session_name="s", state="running", task="hi")
    loaded = TacticCallSession.model_validate_json(t.model_dump_json())
    assert loaded == TacticCallSession.model_validate_json(t.model_dump_json())
    loaded.error = "boom"
    assert t.error is None and "error" not in t.model_fields_set
    assert "error" in loaded.model_fields_set
