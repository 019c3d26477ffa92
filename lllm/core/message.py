"""Messages, tool calls and costs: the values a Dialog holds and an invoker produces."""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional, Type, TypeVar, Union, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticSerializationError

from lllm.core.const import APITypes, Modalities, Roles
from lllm.core.shared_fields import share_fields_set

M = TypeVar("M", bound=BaseModel)
_NAME_BAD = re.compile(r"[^A-Za-z0-9_-]")


class FunctionCall(BaseModel):
    """One tool call requested by the model, and (once executed) its result."""

    id: str
    name: str
    arguments: Dict[str, Any] = Field(default_factory=dict)
    result: Any = None
    result_str: Optional[str] = None
    error_message: Optional[str] = None
    duration_s: Optional[float] = None

    @property
    def success(self) -> bool:
        return self.error_message is None and self.result_str is not None

    def equals(self, other: "FunctionCall") -> bool:
        """Same tool, deep-equal arguments (ids are ignored)."""
        return self.name == other.name and self.arguments == other.arguments

    def is_repeated(self, calls: List["FunctionCall"]) -> bool:
        return any(self.equals(c) for c in calls)

    def __str__(self) -> str:
        call = f"{self.name}({json.dumps(self.arguments, default=str)})"
        return f"{call} -> {self.result_str}" if self.success else call


class InvokeCost(BaseModel):
    """Tokens, per-token rates and dollars of one or more invocations; ``+`` sums all but the rates."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_prompt_tokens: int = 0
    reasoning_tokens: int = 0
    audio_prompt_tokens: int = 0
    audio_completion_tokens: int = 0
    input_cost_per_token: float = 0.0
    output_cost_per_token: float = 0.0
    cache_read_input_token_cost: float = 0.0
    prompt_cost: float = 0.0
    completion_cost: float = 0.0
    cost: float = 0.0

    _SUMMED = (
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "cached_prompt_tokens",
        "reasoning_tokens",
        "audio_prompt_tokens",
        "audio_completion_tokens",
        "prompt_cost",
        "completion_cost",
        "cost",
    )

    @classmethod
    def from_usage(cls, usage: Optional[Dict[str, Any]]) -> "InvokeCost":
        """Read a normalised usage dict; ``None`` values count as 0, ``response_cost`` becomes ``cost``."""
        if not usage:
            return cls()
        u = {k: v for k, v in usage.items() if v is not None}
        pd = u.get("prompt_tokens_details") or {}  # the OpenAI-shaped details, whichever invoker wrote them
        cd = u.get("completion_tokens_details") or {}
        pd, cd = (d if isinstance(d, dict) else getattr(d, "__dict__", {}) for d in (pd, cd))
        p, c = int(u.get("prompt_tokens", 0)), int(u.get("completion_tokens", 0))
        return cls(
            prompt_tokens=p,
            completion_tokens=c,
            total_tokens=int(u.get("total_tokens", p + c)),
            cached_prompt_tokens=int(u.get("cached_prompt_tokens") or pd.get("cached_tokens") or 0),
            reasoning_tokens=int(u.get("reasoning_tokens") or cd.get("reasoning_tokens") or 0),
            audio_prompt_tokens=int(u.get("audio_prompt_tokens") or pd.get("audio_tokens") or 0),
            audio_completion_tokens=int(u.get("audio_completion_tokens") or cd.get("audio_tokens") or 0),
            input_cost_per_token=float(u.get("input_cost_per_token", 0.0)),
            output_cost_per_token=float(u.get("output_cost_per_token", 0.0)),
            cache_read_input_token_cost=float(u.get("cache_read_input_token_cost", 0.0)),
            prompt_cost=float(u.get("prompt_cost", 0.0)),
            completion_cost=float(u.get("completion_cost", 0.0)),
            cost=float(u.get("response_cost", u.get("cost", 0.0))),
        )

    def __add__(self, other: "InvokeCost") -> "InvokeCost":
        if not isinstance(other, InvokeCost):
            return NotImplemented
        return InvokeCost(**{k: getattr(self, k) + getattr(other, k) for k in self._SUMMED})

    def __radd__(self, other: Any) -> "InvokeCost":  # lets sum() start from 0
        if other == 0:
            return self
        return self.__add__(other)

    def __str__(self) -> str:
        return f"{self.prompt_tokens} prompt + {self.completion_tokens} completion tokens, ${self.cost:.6f}"


class TokenLogprob(BaseModel):
    """One token's log-probability; unknown provider fields are kept (0.1.x defaults: ``None``)."""

    model_config = ConfigDict(extra="allow")

    token: Optional[str] = None
    logprob: Optional[float] = None
    bytes: Optional[List[int]] = None
    top_logprobs: List["TokenLogprob"] = Field(default_factory=list)


def _logprob(x: Any) -> "TokenLogprob":
    """A provider's logprob entry as a TokenLogprob: a dict or model, a bare number (the logprob) or a
    bare string (the token), as 0.1.x accepted."""
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return TokenLogprob(logprob=float(x))
    if isinstance(x, str):
        return TokenLogprob(token=x)
    return TokenLogprob.model_validate(x if isinstance(x, dict) else getattr(x, "model_dump", lambda: dict(x))())


class Message(BaseModel):
    """One immutable-by-convention turn of a dialog."""

    model_config = ConfigDict(use_enum_values=False, arbitrary_types_allowed=False)

    role: Roles
    content: Union[str, List[Dict[str, Any]]] = ""
    name: str = ""
    function_calls: List[FunctionCall] = Field(default_factory=list)
    modality: Modalities = Modalities.TEXT
    logprobs: List[TokenLogprob] = Field(default_factory=list)
    parsed: Dict[str, Any] = Field(default_factory=dict)
    model: Optional[str] = None
    usage: Dict[str, Any] = Field(default_factory=dict)
    metadata: Dict[str, Any] = Field(default_factory=dict)
    api_type: APITypes = APITypes.COMPLETION
    vectors: List[Any] = Field(default_factory=list)

    @field_validator("logprobs", mode="before")
    @classmethod
    def _coerce_logprobs(cls, v: Any) -> Any:
        if v is None:
            return []
        return [x if isinstance(x, TokenLogprob) else _logprob(x) for x in v]

    @property
    def sanitized_name(self) -> str:
        return _NAME_BAD.sub("_", self.name)[:64]

    @property
    def is_function_call(self) -> bool:
        return bool(self.function_calls)

    @property
    def cost(self) -> InvokeCost:
        return InvokeCost.from_usage(self.usage)

    @property
    def text(self) -> str:
        """The textual content (text parts joined when the content is a list of parts)."""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.get("text", "") for p in self.content if isinstance(p, dict))

    def parsed_as(self, model: Type[M]) -> M:
        """The structured output validated as ``model`` (see ``Prompt.format``)."""
        data = {k: v for k, v in self.parsed.items() if k != "raw"} if "raw" in self.parsed else self.parsed
        return model.model_validate(data)

    def to_dict(self) -> Dict[str, Any]:
        """The message as JSON data; a value JSON cannot hold (an object passed as ``metadata``) becomes its
        ``str``, with a warning."""
        try:
            return self.model_dump(mode="json")
        except PydanticSerializationError:
            from lllm.core.jsonable import to_json_safe

            return cast(Dict[str, Any], to_json_safe(self.model_dump(), what="Message", stacklevel=2))

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Message":
        return cls.model_validate(d)


class FrozenMessageError(TypeError):
    """Raised on assigning to a message that a dialog holds."""


class FrozenMessage(Message):
    """A Message a dialog holds (``Dialog.append`` makes it one): assigning a field raises, so the canonical
    history cannot change behind the dialog's back. It equals a Message with the same fields, and
    ``model_copy(update=...)`` gives a plain, editable Message."""

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenMessageError(
            f"Message.{name} cannot be changed: the message belongs to a dialog, whose history is immutable. "
            f"To change the history, fork the dialog (dialog.fork()) and append a new message built with "
            f"message.model_copy(update={{{name!r}: ...}})."
        )

    def __delattr__(self, name: str) -> None:
        self.__setattr__(name, None)

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return self.__dict__ == other.__dict__ and self.__pydantic_extra__ == other.__pydantic_extra__

    __hash__ = None  # type: ignore[assignment]

    def model_copy(self, *, update: Optional[Dict[str, Any]] = None, deep: bool = False) -> "Message":  # type: ignore[override]
        out = Message.model_copy(self, update=update, deep=deep)
        object.__setattr__(out, "__class__", Message)
        return out

    # A frozen message's fields-set is shared (see ``freeze``): a copy gets a set of its own.
    def __copy__(self) -> "FrozenMessage":
        out = super().__copy__()
        object.__setattr__(out, "__pydantic_fields_set__", set(self.__pydantic_fields_set__))
        return out

    def __deepcopy__(self, memo: Optional[Dict[int, Any]] = None) -> "FrozenMessage":
        out = super().__deepcopy__(memo)
        object.__setattr__(out, "__pydantic_fields_set__", set(self.__pydantic_fields_set__))
        return out


def freeze(message: Message) -> Message:
    """Make ``message`` (a plain ``Message``) a ``FrozenMessage`` in place; subclasses are left as they are.

    Its fields-set (which fields were given) can no longer change, so one set object is shared by every
    frozen message given the same fields (~0.7 KiB less per message a dialog holds); copies get their own."""
    if type(message) is Message:
        object.__setattr__(message, "__class__", FrozenMessage)
        share_fields_set(message)
    return message


__all__ = ["FunctionCall", "InvokeCost", "TokenLogprob", "Message", "FrozenMessage", "FrozenMessageError", "freeze"]
