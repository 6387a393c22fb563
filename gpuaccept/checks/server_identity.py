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

import ipaddress
import socket
from urllib.parse import urlsplit

from gpuaccept.facts import HostFacts

DEFAULT_PORT = 11434
_LOCAL_NAMES = {"localhost", "ip6-localhost", "ip6-loopback"}


def _is_this_host(name: str, hostname: str) -> bool:
    """Loopback or every-address in any spelling (127.0.0.2, 127.1, ::ffff:127.0.0.1, 0), or this host's name."""
    name = name.lower().rstrip(".")
    if name in _LOCAL_NAMES or name.endswith(".localhost"):
        return True
    short = hostname.lower().rstrip(".")
    if name in (short, short.split(".")[0]) or name.split(".")[0] == short.split(".")[0] and name.endswith(".local"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        try:
            address = ipaddress.ip_address(socket.inet_aton(name))  # the short forms inet_aton reads: 127.1, 0
        except OSError:
            return False
    mapped = getattr(address, "ipv4_mapped", None) or address
    return mapped.is_loopback or mapped.is_unspecified


def inside_port(value: str | None) -> int:
    """The port Ollama listens on for an OLLAMA_HOST value, by Ollama's own rules (envconfig.Host): quotes
    and blanks trimmed; no scheme: the default 11434; http:// or https:// without a port: 80 or 443; a
    port that is no number in range: the default."""
    text = (value or "").strip().strip("\"'")
    scheme, sep, rest = text.partition("://")
    default = {"http": 80, "https": 443}.get(scheme, DEFAULT_PORT) if sep else DEFAULT_PORT
    hostport = (rest if sep else text).split("/", 1)[0]
    port = ""
    if hostport.startswith("["):
        end = hostport.find("]")
        port = hostport[end + 2:] if end >= 0 and hostport[end + 1:end + 2] == ":" else ""
    elif hostport.count(":") == 1:
        port = hostport.split(":", 1)[1]
    return int(port) if port.isdigit() and int(port) <= 65535 else default


def other_server(host: HostFacts) -> str | None:
    """Why what answers at the asked URL is not the managed container's Ollama, or None."""
    url, c = host.ollama.url, host.docker.container
    if host.ollama.reachable and url and _is_this_host(urlsplit(url).hostname or "", host.hostname):
        # Whether the managed container is the one that answered cannot be told from evidence that is not
        # there to read or contradicts itself: never taken as "no container, so whatever answers".
        missing = host.docker.container_missing or ""
        if c is None and missing.startswith("evidence unreadable"):
            return f"whether the API that answered at {url} is the managed container's is not known: {missing}"
        if c is not None and c.exists and c.state_problem is not None:
            return (f"whether the API that answered at {url} is container {c.name}'s is not known: docker inspect's "
                    f"State contradicts itself ({c.state_problem})")
    if c is None or not c.exists or not c.running:
        return None
    if not url and host.ollama.reachable:
        return ("the URL the API answered at is not recorded (host.json's commands name none for "
                "ollama-version.json), so whether the managed container's Ollama answered is not known")
    if not url:
        return None
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return f"the API URL asked ({url}) has no valid port, so which server answered is not known"
    if not _is_this_host(parts.hostname or "", host.hostname):
        return None
    inside = inside_port(c.env_value("OLLAMA_HOST"))
    if c.network_mode != "host" and c.ports_problem is not None:
        return (f"the API asked at {url} may or may not be the managed container's: docker inspect of {c.name} "
                f"contradicts itself ({c.ports_problem}), so which server listens on port {port} is not known")
    if c.network_mode == "host":
        published, how = {inside}, f"on the host network at port {inside} (OLLAMA_HOST)"
    else:
        published = {int(p.host_port) for p in c.ports if p.container_port == f"{inside}/tcp" and p.host_port.isdigit()}
        how = (f"publishes Ollama's {inside}/tcp on host port {', '.join(str(p) for p in sorted(published))}"
               if published else f"publishes no host port for Ollama's {inside}/tcp")
    if port in published:
        return _other_address(url, parts.hostname or "", port, c, inside)
    return (f"the API asked at {url} (port {port}) is not the managed container's: container {c.name} {how}, so "
            "another server answers there (a systemd Ollama or another container) and its answers say nothing of "
            f"{c.name}. Point the suite at the container (--ollama-url http://127.0.0.1:<its port>) or stop the "
            "other server")


_ANY = {"", "0.0.0.0", "::"}


def _other_address(url: str, name: str, port: int, c, inside: int) -> str | None:
    """The port is the container's, but a socket bound to one address takes only connections to that
    address: a URL of another literal address (127.0.0.2, ::1 where only 127.0.0.1 is published) reached
    another server. A name (localhost) is left as it resolves."""
    if c.network_mode == "host":
        return None
    bound = {p.host_ip for p in c.ports if p.container_port == f"{inside}/tcp" and p.host_port == str(port)}
    if not bound or bound & _ANY:
        return None
    try:
        asked = ipaddress.ip_address(name)
    except ValueError:
        return None
    mapped = getattr(asked, "ipv4_mapped", None) or asked
    addresses = set()
    for ip in bound:
        try:
            addresses.add(ipaddress.ip_address(ip))
        except ValueError:
            return None
    if mapped in addresses:
        return None
    return (f"the API asked at {url} is not the managed container's: container {c.name} publishes port {port} on "
            f"{', '.join(sorted(bound))} only, so what answers at {mapped} is another server. Point the suite at "
            f"the container (--ollama-url http://{sorted(bound)[0]}:{port})")
