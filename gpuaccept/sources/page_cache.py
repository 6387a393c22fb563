"""Whether the timed model load reads the disk or the host's page cache.

After the unload that precedes the timed load, the model file is still in the kernel's page cache on a host
with enough RAM, so the load then times the runner's start and the PCIe copy (about 2 s for 20 GB at Gen3 x16),
never the disk under the model store. ``sync; echo 3 > /proc/sys/vm/drop_caches`` (root) empties the cache
(Linux Documentation/admin-guide/sysctl/vm.rst, drop_caches). A container shares the host's kernel, so
dropping it on the host reaches a containerised Ollama too, but only the kernel of the host Ollama runs on:
the suite drops it only where the profile asks for a cold load, the API URL names this host and the suite
runs as root. Otherwise the record says the load was timed from a warm page cache, and why.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

from gpuaccept.checks.server_identity import _is_this_host
from gpuaccept.profile import OllamaSpec

DROP_CACHES = Path("/proc/sys/vm/drop_caches")
DROPPED, WARM = "dropped", "warm"


def prepare_cold_load(spec: OllamaSpec, drop_caches: Path = DROP_CACHES) -> dict[str, str]:
    """Drop the page cache before the timed load when that is asked and possible: {"state", "why"}."""
    if not spec.cold_load:
        return {"state": WARM, "why": "the profile does not ask for a cold load (ollama.cold_load = false)"}
    try:
        name = urlsplit(spec.url).hostname or ""
    except ValueError:
        name = ""
    if not _is_this_host(name, socket.gethostname()):
        return {"state": WARM, "why": f"Ollama's URL names another host ({name or 'none'}): its page cache "
                                      "cannot be dropped from here"}
    if os.geteuid() != 0:
        return {"state": WARM, "why": f"not running as root: writing {drop_caches} needs root"}
    try:
        os.sync()  # dirty pages are not dropped: write them first
        fd = os.open(drop_caches, os.O_WRONLY | os.O_NOFOLLOW)
        try:
            os.write(fd, b"3\n")
        finally:
            os.close(fd)
    except OSError as err:
        return {"state": WARM, "why": f"{drop_caches} could not be written ({err.strerror or err})"}
    return {"state": DROPPED, "why": f"sync; echo 3 > {drop_caches} right before the timed load"}
