"""Batches and tactic calls on Ray: ``tactic.bcall(tasks, backend="ray")`` (needs ``pip install 'lllm[ray]'``).

The tasks run on a small pool of Ray actors, each holding one built tactic (its HTTP pools stay warm);
sessions come back to the driver, which writes them to the tactic's store; a shared token bucket (a Ray
actor) caps the request rate per provider and key across every worker."""

from lllm.ray.backend import RayBatch, run_batch, task_payload
from lllm.ray.limiter import RateLimit, RateLimiter

__all__ = ["RayBatch", "run_batch", "task_payload", "RateLimit", "RateLimiter"]
