"""Special-node execution (memory, plan, milestone): deterministic tools first, then an
optional LLM fallback. Handlers reach tools only through a :class:`.invoker.ToolInvoker`."""

__all__: list[str] = []
