"""One server, one identity: the Ollama the suite asks must be the managed container's.

When the URL the run asked names this host (loopback, any address, or the host's own name) and the
container of the profile exists and runs, the URL's port must be where that container's Ollama is
reached: the host port Docker publishes for the port Ollama listens on inside (``OLLAMA_HOST``'s,
11434 by default), or that port itself on the host network. Otherwise another server answers there (a
systemd Ollama, another container), and the API's answers say nothing about the managed container: the
OLL requirements are not evaluated, naming both. A URL of another host cannot be compared, and with no
managed container an Ollama served otherwise (as a systemd unit) is the server under test.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from gpuaccept.facts import HostFacts

DEFAULT_PORT = 11434
_LOCAL = {"127.0.0.1", "localhost", "::1", "0.0.0.0", "::"}


def _inside_port(value: str | None) -> int:
    """The port of an OLLAMA_HOST value (``0.0.0.0:11434``, ``http://[::]:8080``, ``:9000``, ``host``)."""
    rest = (value or "").split("://")[-1].rstrip("/")
    tail = rest.rsplit(":", 1)[1] if ":" in rest and not rest.endswith("]") else ""
    return int(tail) if tail.isdigit() and 0 < int(tail) < 65536 else DEFAULT_PORT


def other_server(host: HostFacts) -> str | None:
    """Why what answers at the asked URL is not the managed container's Ollama, or None."""
    url, c = host.ollama.url, host.docker.container
    if not url or c is None or not c.exists or not c.running:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None  # the URL was refused where it was given
    if (parts.hostname or "").lower() not in _LOCAL | {host.hostname.lower()}:
        return None
    inside = _inside_port(c.env_value("OLLAMA_HOST"))
    if c.network_mode == "host":
        published, how = {inside}, f"on the host network at port {inside} (OLLAMA_HOST)"
    else:
        published = {int(p.host_port) for p in c.ports if p.container_port == f"{inside}/tcp" and p.host_port.isdigit()}
        how = (f"publishes Ollama's {inside}/tcp on host port {', '.join(str(p) for p in sorted(published))}"
               if published else f"publishes no host port for Ollama's {inside}/tcp")
    if port in published:
        return None
    return (f"the API asked at {url} (port {port}) is not the managed container's: container {c.name} {how}, so "
            "another server answers there (a systemd Ollama or another container) and its answers say nothing of "
            f"{c.name}. Point the suite at the container (--ollama-url http://127.0.0.1:<its port>) or stop the "
            "other server")
