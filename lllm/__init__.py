"""LLLM: build LLM agentic systems like ordinary software (placeholder during bootstrap)."""
