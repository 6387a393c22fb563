"""Stand-in for ``nvidia-container-runtime-hook prestart``: what the real toolkit does for visibility.

dockerd adds this hook to a container's OCI spec when the container asks for GPUs (``--gpus`` /
DeviceRequests) and appends ``NVIDIA_VISIBLE_DEVICES`` to its environment. runc runs the hook with the
OCI state on stdin and an empty environment. Like the real hook, this one reads the bundle's
``config.json``, resolves ``NVIDIA_VISIBLE_DEVICES`` (last value wins: the Ollama image sets ``all``,
the engine appends the request) against the host's GPUs, and gives the container an ``nvidia-smi``
that lists exactly those GPUs, renumbered from 0, with the host's UUIDs. Unknown devices make the
hook fail, which fails the container's start, as with the real toolkit.

The host's GPUs are read from ``gpus.json`` beside the hook's wrapper (a simulated host built from a
real capture).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

NVIDIA_SMI = """#!/bin/sh
# nvidia-smi as the stand-in toolkit hook installed it: lists the GPUs this container was given.
case "$1" in
  -L) {listing} ;;
  *) echo "this nvidia-smi (test stand-in) answers -L only" >&2; exit 2 ;;
esac
"""


def visible(env: list[str]) -> str | None:
    value = None
    for item in env:
        if item.startswith("NVIDIA_VISIBLE_DEVICES="):
            value = item.split("=", 1)[1]
    return value


def select(value: str, gpus: list[dict]) -> list[dict]:
    if value == "all":
        return gpus
    if value == "none":
        return []
    chosen = []
    for token in (t.strip() for t in value.split(",")):
        match = [g for i, g in enumerate(gpus) if token in (str(i), g["uuid"])]
        if not match:
            raise LookupError(f"unknown device: {token}")
        chosen.append(match[0])
    return chosen


def listing(chosen: list[dict]) -> str:
    if not chosen:
        return "echo 'No devices were found'; exit 6"
    lines = [f"GPU {i}: {g['name']} (UUID: {g['uuid']})" for i, g in enumerate(chosen)]
    return "printf '%s\\n' " + " ".join(f"'{line}'" for line in lines)


def main(argv: list[str], gpus_file: str) -> int:
    if argv[:1] != ["prestart"]:
        return 0
    state = json.load(sys.stdin)
    bundle = Path(state["bundle"])
    config = json.loads((bundle / "config.json").read_text())
    value = visible(config.get("process", {}).get("env", []))
    if value in (None, "", "void"):
        return 0  # behaves like runc: no GPU, no nvidia-smi
    gpus = json.loads(Path(gpus_file).read_text())
    try:
        chosen = select(value, gpus)
    except LookupError as err:
        print(f"nvidia-container-cli: device error: {err}", file=sys.stderr)
        return 1
    root = Path(config["root"]["path"])
    root = root if root.is_absolute() else bundle / root
    target = root / "usr" / "bin" / "nvidia-smi"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(NVIDIA_SMI.format(listing=listing(chosen)))
    os.chmod(target, 0o755)
    return 0
