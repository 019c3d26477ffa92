"""Generate docs/reference.md from the public API's signatures and docstrings.

Run `python docs/gen_reference.py` after changing a public name; tests/docs/test_reference.py fails while
the checked-in reference is out of date, so the reference never drifts from the code."""
from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path
from typing import Any, List

OUT = Path(__file__).resolve().parent / "reference.md"
PY = f"{sys.version_info.major}.{sys.version_info.minor}"  # signatures print differently across versions


def _doc(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.split("\n\n")[0].replace("\n", " ").strip()


def _sig(obj: Any) -> str:
    try:
        return re.sub(r" at 0x[0-9a-fA-F]+", "", str(inspect.signature(obj)))  # no addresses: stable output
    except (TypeError, ValueError):
        return ""


def _members(cls: type) -> List[str]:
    out = []
    for name, member in sorted(vars(cls).items()):
        if name.startswith("_") and name != "__call__":
            continue
        fn = member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
        if isinstance(member, property):
            out.append(f"  - `.{name}` (property): {_doc(member)}")
        elif inspect.isfunction(fn):
            out.append(f"  - `.{name}{_sig(fn)}`: {_doc(fn)}")
    return out


def render() -> str:
    import lllm
    groups: dict = {}
    for name in lllm.__all__:
        if name == "__version__":
            continue
        obj = getattr(lllm, name)
        groups.setdefault(getattr(obj, "__module__", None) or "lllm", []).append((name, obj))
    lines = ["# LLLM API reference", "",
             "Generated from the code by `docs/gen_reference.py`: every name exported by `lllm`, grouped by the "
             "module that defines it, with its signature and the first paragraph of its docstring.",
             f"Python {PY}.", ""]
    for module in sorted(groups):
        lines += [f"## `{module}`", ""]
        for name, obj in sorted(groups[module], key=lambda x: x[0].lower()):
            if inspect.isclass(obj):
                lines.append(f"### class `{name}{_sig(obj)}`")
                lines += ["", _doc(obj), ""] + _members(obj) + [""]
            elif callable(obj):
                lines += [f"### `{name}{_sig(obj)}`", "", _doc(obj), ""]
            else:
                lines += [f"### `{name}` = `{obj!r}`", ""]
    return "\n".join(line.rstrip() for line in lines).rstrip() + "\n"


if __name__ == "__main__":
    sys.path.insert(0, str(OUT.parents[1]))
    OUT.write_text(render())
    print(f"wrote {OUT}")
