"""A package's modules import by their absolute names (``from shop.models.order import Order``) as
Python users expect, each module once, so a typed tactic accepts the model imported by a user's own
service code; a loaded package never shadows an installed module of the same name."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

from support.pkgtree import write_tree

import lllm

ROOT = Path(__file__).resolve().parents[2]

SHOP = {
    "lllm.toml": '[package]\nname = "shop_imports"\n',
    "models/order.py": """
        from pydantic import BaseModel

        class Order(BaseModel):
            sku: str
            qty: int = 1
    """,
    "tools/lookup.py": """
        from lllm import tool

        @tool
        def lookup(sku: str) -> str:
            \"\"\"Look a product up.\"\"\"
            return "found " + sku
    """,
    "tactics/clerk.py": """
        from lllm import Tactic
        from shop_imports.models.order import Order          # a plain folder of the package
        from shop_imports.tools.lookup import lookup          # a section module

        class Clerk(Tactic):
            name = "clerk"

            def call(self, task: Order) -> str:
                return f"{lookup.function(task.sku)} x{task.qty}"
    """,
}


def test_absolute_imports_of_the_packages_own_modules_load_in_strict_mode(tmp_path):
    write_tree(tmp_path / "shop", SHOP)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rt = lllm.load_runtime(tmp_path / "shop" / "lllm.toml", name="imports-strict")
    assert rt.has("shop_imports.tactics:clerk", "tactic") and rt.has("shop_imports.tools:lookup", "tool")
    from shop_imports.models.order import Order

    tactic = lllm.build_tactic({}, name="shop_imports.tactics:clerk", runtime=rt)
    assert tactic(Order(sku="a1", qty=2)) == "found a1 x2"
    import shop_imports.tactics.clerk as clerk

    assert clerk is sys.modules["lllm._discovered.shop_imports.tactics.clerk"] and clerk.Order is Order


def test_a_users_service_module_shares_the_typed_input_class(tmp_path):
    """lllm-core's service pattern: code outside the package imports the tactic's input model."""
    write_tree(tmp_path / "shop", SHOP)
    (tmp_path / "service.py").write_text(
        "import json, sys\n"
        "import lllm\n"
        f"rt = lllm.load_runtime({str(tmp_path / 'shop' / 'lllm.toml')!r})\n"
        "from shop_imports.models.order import Order\n"
        "tactic = lllm.build_tactic({}, name='shop_imports.tactics:clerk', runtime=rt)\n"
        "print(json.dumps([tactic(Order(sku='b2')), tactic({'sku': 'c3', 'qty': 3})]))\n"
    )
    out = subprocess.run(
        [sys.executable, "service.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT), "LLLM_AUTO_INIT": "0", "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == ["found b2 x1", "found c3 x3"]


def test_a_package_never_shadows_an_installed_module(tmp_path):
    write_tree(
        tmp_path / "json",
        {"lllm.toml": '[package]\nname = "json"\n', "tools/helper.py": "def helper() -> str:\n    return 'mine'\n"},
    )
    lllm.load_runtime(tmp_path / "json" / "lllm.toml", name="imports-shadow")
    import importlib

    assert importlib.import_module("json").dumps([1]) == "[1]"  # still the standard library


def test_a_reload_gets_fresh_modules(tmp_path):
    write_tree(tmp_path / "shop", SHOP)
    lllm.load_runtime(tmp_path / "shop" / "lllm.toml", name="imports-a")
    import shop_imports.models.order as first

    (tmp_path / "shop" / "models" / "order.py").write_text(
        "from pydantic import BaseModel\n\n\nclass Order(BaseModel):  # changed\n    sku: str\n    qty: int = 5\n"
    )
    lllm.load_runtime(tmp_path / "shop" / "lllm.toml", name="imports-b")
    import shop_imports.models.order as second

    assert second is not first and second.Order(sku="x").qty == 5
