"""LLLM: every simple call is a whole tactic run (fresh agent, dialog, session), async API.

Simple call = `await tactic.acall(prompt)` on a one-agent Tactic whose `async def call` opens a
dialog and awaits `agent.arespond()`; tool run = the same with `cfg["tool"]` registered via
`Function.from_callable`, looping until the model answers. Native OpenAI-compatible invoker
(LLLM's HTTP/1.1 client on httptools, one pool per loop), no LiteLLM.
"""

IMPORT = "import lllm; from lllm import Tactic, Function"
CONCURRENCY = "asyncio"
PACKAGES = ["lllm", "httptools", "pydantic"]
NOTES = "Tactic.acall per call (fresh agent + session), native invoker on its own HTTP/1.1 client; the fake server varies tool arguments per round, so every round runs its tool"


def setup(cfg):
    from lllm import Function, Prompt, Tactic

    config = {"global": {"model_name": f"openai/{cfg['model']}",
                         "model_args": {"api_base": cfg["base_url"], "api_key": cfg["api_key"]},
                         "max_interrupt_steps": 8},
              "agent_configs": [{"name": "assistant", "system_prompt": "You are a helpful assistant."}]}

    class Chat(Tactic, register=False):
        name = "bench_chat"
        agent_group = ["assistant"]

        async def call(self, task: str) -> str:
            agent = self.agents["assistant"]
            agent.open("chat")
            agent.receive(task)
            return (await agent.arespond()).content

    tool_fn = Function.from_callable(cfg["tool"])
    tool_prompt = Prompt(path="bench/tool", prompt="{q}", function_list=[tool_fn])

    class ToolRun(Chat, register=False):
        name = "bench_tool"

        async def call(self, task: str) -> str:
            agent = self.agents["assistant"]
            agent.open("chat")
            agent.receive_prompt(tool_prompt, {"q": task})
            return (await agent.arespond()).content

    import warnings
    warnings.filterwarnings("ignore", message=".*has no log_store.*")
    return {"chat": Chat(config), "tool": ToolRun(config)}


async def achat(st, prompt):
    return await st["chat"].acall(prompt)


async def atool_run(st, prompt):
    return await st["tool"].acall(prompt)
