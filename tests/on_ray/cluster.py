"""A real two-node Ray cluster on this machine for the tests: ``ray start --head`` plus a second ``ray start
--address`` node, each a ``--block`` process of its own (its own session and process group, a private temp
dir and free ports, so it never meets another Ray instance on the machine). ``stop`` ends only these."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalCluster:
    """``address`` (``127.0.0.1:PORT``) of a head node with ``nodes`` one-CPU nodes in all; ``client_address``
    (``ray://127.0.0.1:PORT``): the head's Ray client server (``ray[client]``), for drivers in client mode."""

    def __init__(self, env: Dict[str, str], nodes: int = 2):
        self.dir = tempfile.mkdtemp(prefix="lllm-ray-", dir="/tmp")  # short: Ray's socket paths must stay short
        self.env = {k: v for k, v in env.items() if k != "RAY_ADDRESS"}
        self.env.update(RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled")  # a throwaway loopback cluster
        self.env.update(RAY_health_check_period_ms="1000", RAY_health_check_failure_threshold="3")  # a lost node: ~3 s
        self.procs: List[subprocess.Popen] = []
        self.address = f"127.0.0.1:{free_port()}"
        self.client_address = f"ray://127.0.0.1:{free_port()}"  # never Ray's default 10001: another may hold it
        try:
            port, client_port = self.address.split(":")[1], self.client_address.rsplit(":", 1)[1]
            self._start("--head", "--port", port, "--ray-client-server-port", client_port, "--include-dashboard=false")
            for _ in range(nodes - 1):
                self._start("--address", self.address)
            self.wait_for_nodes(nodes)
        except BaseException:
            self.stop()
            raise

    def _start(self, *args: str) -> None:
        cmd = [RAY, "start", *args, "--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--block"]
        cmd += ["--temp-dir", self.dir, "--disable-usage-stats"]
        cmd += ["--dashboard-agent-listen-port", str(free_port()), "--runtime-env-agent-port", str(free_port())]
        cmd += ["--metrics-export-port", str(free_port())]
        log = open(os.path.join(self.dir, f"node{len(self.procs)}.log"), "wb")
        self.procs.append(
            subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        )
        log.close()

    def wait_for_nodes(self, n: int, timeout: float = 90.0) -> None:
        """Until the cluster has ``n`` live nodes (asked by one short-lived driver, which polls)."""
        probe = (
            "import sys, time, ray\n"
            "ray.init(address=sys.argv[1], log_to_driver=False)\n"
            "while len([x for x in ray.nodes() if x['Alive']]) < int(sys.argv[2]):\n"
            "    time.sleep(0.2)\n"
        )
        try:
            out = subprocess.run(
                [sys.executable, "-c", probe, self.address, str(n)],
                env=self.env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"the Ray cluster did not reach {n} nodes in {timeout:.0f} s:\n{self.logs()}") from None
        if out.returncode != 0 or any(p.poll() is not None for p in self.procs):
            raise RuntimeError(f"the Ray cluster did not start:\n{out.stderr[-2000:]}\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-1500:] for p in sorted(Path(self.dir).glob("node*.log")))

    def kill_node(self, index: int) -> None:
        """SIGKILL every process of node ``index`` at once (its ``ray start`` process group): a node lost."""
        p = self.procs[index]
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(10)

    def stop(self, proc: Optional[subprocess.Popen] = None) -> None:
        """Stop one node (``proc``) or all of them: SIGTERM (``ray start --block`` then ends its node's
        processes), and SIGKILL to its process group if it lingers."""
        procs = [proc] if proc is not None else list(reversed(self.procs))
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(p.pid, signal.SIGKILL)  # the node's own process group (start_new_session)
            except ProcessLookupError:
                pass
            p.wait(5)
        if proc is None:
            shutil.rmtree(self.dir, ignore_errors=True)
