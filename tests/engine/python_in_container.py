"""Run this machine's Python inside the busybox stand-in image: the Ollama stand-in as a container's server.

The interpreter, its C library and the repository are bind-mounted read-only, so the container's own
root file system (where the stand-in NVIDIA hook puts ``nvidia-smi``) stays as it is. The server then
sees the GPUs the container was given and its ``OLLAMA_SCHED_SPREAD``, as Ollama would, and publishes
its API through the engine: the load tier runs end to end through a real container.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def standin_options(state_dir: Path, host_gpus: list[tuple[str, float]]) -> dict[str, Any]:
    """``containers.run`` arguments (entrypoint, command, volumes, environment) for the stand-in server."""
    prefix = Path(sys.base_prefix)
    python = Path(os.path.realpath(sys.executable))
    mounts = {str(ROOT): {"bind": str(ROOT), "mode": "ro"}, str(state_dir): {"bind": "/state", "mode": "rw"},
              os.path.realpath("/lib"): {"bind": "/lib", "mode": "ro"},
              os.path.realpath("/lib64"): {"bind": "/lib64", "mode": "ro"}}
    if prefix == Path("/usr"):  # a distribution Python: its tree is /usr, which the container keeps
        mounts["/usr"] = {"bind": "/host-usr", "mode": "ro"}
        python = Path("/host-usr") / python.relative_to("/usr")
        libs = "/host-usr/lib/x86_64-linux-gnu:/host-usr/lib"
    else:
        mounts[str(prefix)] = {"bind": str(prefix), "mode": "ro"}
        libs = f"{prefix}/lib"
    gpus = ",".join(f"{uuid}={mib:g}" for uuid, mib in host_gpus)
    return {"entrypoint": [str(python), "-m", "tests.fakes.ollama_server"],
            "command": ["--state", "/state/gpu-state.json", "--host-gpus", gpus],
            "volumes": mounts,
            "environment": {"PYTHONPATH": str(ROOT), "LD_LIBRARY_PATH": libs, "PYTHONDONTWRITEBYTECODE": "1"}}
