"""Where a container keeps its Ollama models, and a copy of that store that proves itself.

The store is the directory Ollama reads: ``OLLAMA_MODELS`` when set (the last definition wins),
else ``<models_path>/models`` (``/root/.ollama/models``, Ollama's default for root). It lives on the
container's own layer, or on the deepest bind mount, volume or tmpfs that covers it; only the first
two outlive the container.

Copies and inventories go through the Engine's archive API (``GET``/``PUT /containers/ID/archive``),
so they work on stopped and created containers and need no tool inside the image. Both directions
stream: a tar member is read, hashed and passed on chunk by chunk, so memory stays flat whatever the
size of the blobs. The tar stream has to be read to its end to list a store anyway, so every file's
SHA-256 costs CPU time only: every file is hashed, on both sides, and nothing is sampled.

An Ollama store is ``manifests/<registry>/<namespace>/<model>/<tag>`` (JSON naming its config and
layers by ``sha256:<hex>`` digest and size) and ``blobs/sha256-<hex>`` (content-addressed).
"""

from __future__ import annotations

import hashlib
import io
import json
import posixpath
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from gpuaccept.errors import RemedyError
from gpuaccept.facts import ContainerFacts, Mount

CHUNK = 1 << 20
MANIFEST_CAP = 1 << 20  # a manifest is a few hundred bytes; larger ones are listed, not parsed
PERSISTENT = ("volume", "bind")


@dataclass(frozen=True)
class Location:
    path: str  # the directory Ollama reads, inside the container
    holder: Mount | None  # the deepest mount that covers it; None: the container's own layer
    from_env: bool  # OLLAMA_MODELS names it

    @property
    def persistent(self) -> bool:
        return self.holder is not None and self.holder.type in PERSISTENT

    def where(self) -> str:
        if self.holder is None:
            return "container layer"
        if self.holder.type == "tmpfs":
            return f"tmpfs at {self.holder.destination}"
        return f"{'bind mount' if self.holder.type == 'bind' else 'volume'} {self.holder.source}"


def default_path(models_path: str) -> str:
    return f"{models_path.rstrip('/')}/models"


def locate(c: ContainerFacts, models_path: str) -> Location:
    value = c.env_value("OLLAMA_MODELS") or ""
    path = posixpath.normpath(posixpath.join("/", value)) if value else default_path(models_path)
    return Location(path, holder(c, path), bool(value))


def holder(c: ContainerFacts, path: str) -> Mount | None:
    """The mount whose files ``path`` shows: the deepest one covering it; None for the container's layer."""
    covering = [m for m in c.mounts if under(path, m.destination)]
    return max(covering, key=lambda m: len(m.destination.rstrip("/")), default=None)


def plan_text(c: ContainerFacts, models_path: str, volume: str) -> tuple[str, str]:
    """The store before a recreate, and where the recreate will put it (a plan's before and after)."""
    store = locate(c, models_path)
    home_kept = bool(c.stores(models_path))
    target = new_path(store, models_path, home_kept)
    if store.persistent:
        return f"models {store.path} on {store.where()}", f"models kept at {store.path} on {store.where()}"
    home = Location(models_path, holder(c, models_path), False).where() if home_kept else f"volume {volume}"
    moved = " (OLLAMA_MODELS dropped)" if target != store.path else ""
    return (f"models {store.path} on the {store.where()}",
            f"models copied to {target} on {home}{moved} and verified before the old container goes")


def under(path: str, root: str) -> bool:
    return (path.rstrip("/") + "/").startswith(root.rstrip("/") + "/")


def new_path(store: Location, models_path: str, home_kept: bool) -> str:
    """Where the new container's Ollama will read the models.

    A store that already persists stays where it is (nothing is moved that outlives the container).
    One on the layer inside Ollama's home moves with the home, which gets the profile's volume when it
    has none, so it keeps its path. One on the layer elsewhere moves to Ollama's default path in the
    home's volume, and OLLAMA_MODELS goes: the layout is then the one the ``ollama/ollama`` image
    documents (``-v ollama:/root/.ollama``), which CTR-CONFIG and a later launch expect, and the
    volume never holds a store at its top level.
    """
    if store.persistent or (not home_kept and under(store.path, models_path)):
        return store.path
    return default_path(models_path)


@dataclass
class Tree:
    """The regular files under one directory: relative path -> (size, sha256), manifests' content; and its
    links: symbolic (relative path -> what it points to) and hard (relative path -> the file it is)."""

    files: dict[str, tuple[int, str]] = field(default_factory=dict)
    manifests: dict[str, bytes] = field(default_factory=dict)
    symlinks: dict[str, str] = field(default_factory=dict)
    hardlinks: dict[str, str] = field(default_factory=dict)
    written: list[str] = field(default_factory=list)  # after a copy: the paths it wrote in the target container

    def add(self, rel: str, size: int, digest: str, content: bytes | None) -> None:
        self.files[rel] = (size, digest)
        if content is not None:
            self.manifests[rel] = content

    def under(self, prefix: str) -> Tree:
        head = prefix.strip("/") + "/"
        sub = Tree()
        for rel, (size, digest) in self.files.items():
            if rel.startswith(head):
                sub.files[rel[len(head):]] = (size, digest)
        sub.manifests = {rel[len(head):]: data for rel, data in self.manifests.items() if rel.startswith(head)}
        sub.symlinks = {rel[len(head):]: to for rel, to in self.symlinks.items() if rel.startswith(head)}
        sub.hardlinks = {rel[len(head):]: to.removeprefix(head) for rel, to in self.hardlinks.items()
                         if rel.startswith(head)}
        return sub

    @property
    def total(self) -> int:
        return sum(size for size, _ in self.files.values())

    @property
    def manifest_files(self) -> list[str]:
        return sorted(rel for rel in self.files if rel.startswith("manifests/"))

    @property
    def blobs(self) -> list[str]:
        return sorted(rel for rel in self.files if rel.startswith("blobs/"))


class _Chunks(io.RawIOBase):
    """A read-only file over the Engine's chunk iterator (no copies of the chunks kept)."""

    def __init__(self, chunks: Iterable[bytes]):
        self._it = iter(chunks)
        self._view = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._view:
            try:
                self._view = memoryview(next(self._it))
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._view))
        buffer[:n] = self._view[:n]
        self._view = self._view[n:]
        return n


def _drain(data: Iterable[bytes]) -> None:
    """Read a member's data to its end (hashing it, where it is ``_hashed``), keeping nothing."""
    for _ in data:
        pass


def _relative(name: str) -> str:
    """Tar member name without the archive's top directory (the store directory itself)."""
    parts = name.strip("/").split("/", 1)
    return parts[1] if len(parts) == 2 else ""


def _members(chunks: Iterable[bytes], tree: Tree) -> Iterator[tuple[tarfile.TarInfo, Iterator[bytes]]]:
    """Each tar member with an iterator over its data; regular files are hashed into ``tree`` as read, links
    recorded (a hard link is a file of the tree too: the one it links to, under a second name)."""
    with tarfile.open(fileobj=_Chunks(chunks), mode="r|") as tar:
        for member in tar:
            rel = _relative(member.name)
            if member.issym():
                tree.symlinks[rel] = member.linkname
            elif member.islnk():
                target = _relative(member.linkname)
                tree.hardlinks[rel] = target
                if target in tree.files:
                    tree.files[rel] = tree.files[target]
            if not member.isfile():
                yield member, iter(())
                continue
            yield member, _hashed(tar.extractfile(member), rel, tree)


def _is_manifest(rel: str) -> bool:
    """Under a ``manifests`` directory: of this store, or of a store inside the copied tree (its sub-tree
    is then checked too, see Tree.under)."""
    return rel.startswith("manifests/") or "/manifests/" in rel


def _hashed(reader, rel: str, tree: Tree) -> Iterator[bytes]:
    digest, size = hashlib.sha256(), 0
    keep = _is_manifest(rel)
    kept = bytearray()
    while chunk := reader.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
        if keep and len(kept) <= MANIFEST_CAP:
            kept += chunk
        yield chunk
    tree.add(rel, size, digest.hexdigest(), bytes(kept) if keep and len(kept) <= MANIFEST_CAP else None)


def _contents(path: str) -> str:
    """The archive path of a directory's contents: ``/.`` makes the Engine follow a symlink to the directory
    (plain, it would archive the link alone, and a copy of the link would hold no model)."""
    return path.rstrip("/") + "/."


def read_tree(container, path: str) -> Tree:
    """Every regular file under ``path`` in ``container`` (any state), hashed; empty when it does not exist."""
    from docker.errors import NotFound

    tree = Tree()
    try:
        chunks, _ = container.get_archive(_contents(path), chunk_size=CHUNK)
    except NotFound:
        return tree
    for _member, data in _members(chunks, tree):
        _drain(data)
    return tree


class Refused(RemedyError):
    """The copy stopped before writing what it names: a store it must not write, or a link it cannot carry."""


def outside(rel: str, link: str) -> bool:
    """Whether a symbolic link at ``rel`` (inside a copied tree) points outside that tree by its own text
    (``resolve`` also follows the links it passes through)."""
    if link.startswith("/"):
        return True  # an absolute path is the old container's: the copy cannot carry what it names
    return posixpath.normpath(posixpath.join(posixpath.dirname(rel), link)).startswith("..")


def resolve(rel: str, symlinks: dict[str, str], hops: int = 40) -> str | None:
    """The path inside the tree that ``rel`` finally names, following every symbolic link on the way as the
    kernel would (``s -> .``, ``t -> s/..`` chains included); None when it leaves the tree, is absolute or
    loops."""
    done: list[str] = []
    todo = rel.split("/")
    while todo:
        part = todo.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if not done:
                return None
            done.pop()
            continue
        here = "/".join([*done, part])
        if here in symlinks:
            hops -= 1
            link = symlinks[here]
            if hops < 0 or link.startswith("/"):
                return None
            todo = link.split("/") + todo  # relative to the link's own folder: ``done`` stays
            continue
        done.append(part)
    return "/".join(done)


def escaping_links(tree: Tree) -> list[str]:
    """Each symbolic link of the tree that, followed to the end, leaves it: what it names would stay behind."""
    return [f"{rel} -> {to}" for rel, to in sorted(tree.symlinks.items()) if resolve(rel, tree.symlinks) is None]


def copy_tree(source, source_path: str, target, target_path: str, *, skip: tuple[str, ...] = (),
              existing: Tree | None = None) -> Tree:
    """Stream ``source_path`` of one container into ``target_path`` of another; returns the source's files.

    The parent of ``target_path`` must exist in the target (a mount point does). ``skip``: relative
    directories not copied at all (mounts the new container reads again: they are never written through).
    ``existing``: what ``target_path`` already holds; a file of the same name is never overwritten: the same
    file (size and SHA-256) is left as it is, another one stops the copy before it is written (``Refused``).
    A symbolic link that points outside the copied tree stops it too: its target would not come along.
    """
    from docker.errors import NotFound

    clash = collisions(source, source_path, existing or Tree(), skip)
    if clash:
        raise Refused(f"the destination {target_path} already holds other content under the same name"
                      f"{'s' * (len(clash) > 1)}: {'; '.join(clash[:3])}: the copy would overwrite another store's file")
    tree = Tree()
    try:
        chunks, _ = source.get_archive(_contents(source_path), chunk_size=CHUNK)
    except NotFound:
        return tree
    parent, top = posixpath.split(target_path.rstrip("/"))
    written: list[str] = []
    members = _guarded(_members(chunks, tree), tree, skip, existing or Tree(), source_path, target_path, written)
    try:
        target.put_archive(parent or "/", _renamed(members, top))
    except Exception as err:
        err.read_before_failure = (source_path, tree)  # what the copy had read whole: the record's proof after it
        err.written = written  # what it had begun to write: removed again by the caller
        raise
    tree.written = written
    return tree


def collisions(source, source_path: str, existing: Tree, skip: tuple[str, ...] = ()) -> list[str]:
    """Before a byte is written: each file the destination holds that the source has too, with other content.

    Only the destination's own names are looked up in the source (one archive request each). A small file
    (a manifest) is read and hashed; a larger one (a blob, named by its content) is compared by size, and
    a blob whose bytes do not hash to its name in the destination counts as other content."""
    from docker.errors import NotFound

    found = []
    for rel, (size, digest) in sorted(existing.files.items()):
        if skipped(rel, skip):
            continue
        try:
            chunks, info = source.get_archive(posixpath.join(source_path, rel), chunk_size=CHUNK)
        except NotFound:
            continue
        theirs = Tree()
        if int(info.get("size", -1)) <= MANIFEST_CAP or rel.startswith("manifests/"):
            for _member, data in _members(chunks, theirs):
                _drain(data)
            mine = next(iter(theirs.files.values()), None)
        else:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
            name = rel.removeprefix("blobs/sha256-") if rel.startswith("blobs/sha256-") else None
            mine = (int(info.get("size", -1)), digest if name == digest else "?")
        if mine is not None and mine != (size, digest):
            found.append(f"{posixpath.join(source_path, rel)} ({mine[0]} bytes, sha256 {mine[1][:12]}…) and the "
                         f"destination's {rel} ({size} bytes, sha256 {digest[:12]}…) differ")
    return found


def skipped(rel: str, skip: tuple[str, ...]) -> bool:
    """Whether ``rel`` is one of the relative folders ``skip`` names, or inside one."""
    return any(rel == s or rel.startswith(s.rstrip("/") + "/") for s in skip)


def _guarded(members, tree: Tree, skip: tuple[str, ...], existing: Tree, source_path: str, target_path: str,
             written: list[str]):
    for member, data in members:
        rel = _relative(member.name)
        if skipped(rel, skip):
            _drain(data)  # read (the stream goes on), never written: a mount the new container keeps
            tree.files.pop(rel, None)
            tree.symlinks.pop(rel, None)
            continue
        if member.issym() and outside(rel, member.linkname):
            raise Refused(f"{posixpath.join(source_path, rel)} is a symbolic link to {member.linkname}, outside "
                          f"{source_path}: the copy would carry the link and not what it points to")
        if rel in existing.files or rel in existing.symlinks:
            _unless_different(member, data, rel, tree, existing, target_path)  # written never; refused if other
            continue
        if rel and not member.isdir():
            written.append(posixpath.join(target_path, rel))  # before its first byte: nothing cut short goes unnamed
        yield member, data


def _unless_different(member, data, rel: str, tree: Tree, existing: Tree, target_path: str) -> None:
    """A file the destination already has: read it whole (a manifest) or by name (a blob is named by its
    content), and write nothing either way; another content stops the copy, naming both."""
    if not member.isfile():
        return  # a directory or link of the same name: the destination's stays
    _drain(data)  # hashed as it is read (into ``tree``), kept nowhere: nothing of it is written
    size, digest = tree.files[rel]
    if (size, digest) != existing.files.get(rel):
        have = existing.files.get(rel)
        raise Refused(f"{posixpath.join(target_path, rel)} already holds other content ({have[0] if have else '?'} "
                      f"bytes, sha256 {have[1][:12] if have else '?'}…) than the old store's ({size} bytes, sha256 "
                      f"{digest[:12]}…): the copy would overwrite another store's file")


def _renamed(members, top: str) -> Iterator[bytes]:
    """Re-emit a tar stream with its top directory renamed to ``top``, chunk by chunk."""
    def rename(name: str) -> str:
        rel = _relative(name)
        return f"{top}/{rel}" if rel else top

    for member, data in members:
        member.name = rename(member.name)
        if member.islnk():
            member.linkname = rename(member.linkname)
        member.pax_headers = {k: v for k, v in member.pax_headers.items() if k not in ("path", "linkpath")}
        yield member.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        written = 0
        for chunk in data:
            written += len(chunk)
            yield chunk
        if written % tarfile.BLOCKSIZE:
            yield tarfile.NUL * (tarfile.BLOCKSIZE - written % tarfile.BLOCKSIZE)
    yield tarfile.NUL * (2 * tarfile.BLOCKSIZE)


def differences(source: Tree, copy: Tree) -> list[str]:
    """What the copy lacks or has changed: every source file must be there, same size, same SHA-256."""
    found = []
    for rel, (size, digest) in sorted(source.files.items()):
        if rel not in copy.files:
            found.append(f"{rel} missing")
            continue
        got_size, got_digest = copy.files[rel]
        if got_size != size:
            found.append(f"{rel} is {got_size} bytes, expected {size}")
        elif got_digest != digest:
            found.append(f"{rel} has sha256 {got_digest[:12]}…, expected {digest[:12]}…")
    return found


def references(tree: Tree) -> tuple[int, list[str]]:
    """Blob references of every manifest (config and layers), and the ones the store does not satisfy."""
    count, broken = 0, [f"{rel} is over {MANIFEST_CAP} bytes: not read" for rel in tree.manifest_files
                        if rel not in tree.manifests]
    for rel, content in sorted(tree.manifests.items()):
        if not rel.startswith("manifests/"):
            continue
        try:
            manifest = json.loads(content)
            refs = [manifest["config"], *manifest.get("layers", [])]
            wanted = [(str(r["digest"]), int(r["size"])) for r in refs]
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            broken.append(f"{rel} is not a readable manifest ({type(err).__name__})")
            continue
        for digest, size in wanted:
            count += 1
            algorithm, _, hexdigest = digest.partition(":")
            blob = f"blobs/{algorithm}-{hexdigest}"
            if blob not in tree.files and blob in tree.symlinks:  # a link to a file of the store is that file
                real = resolve(blob, tree.symlinks)
                if real is None or real not in tree.files:
                    broken.append(f"{rel} names {blob}, a symbolic link to {tree.symlinks[blob]} that leads to no file "
                                  "of the store")
                    continue
                blob = real
            if blob not in tree.files:
                broken.append(f"{rel} names {blob}, which is missing")
            elif tree.files[blob][0] != size:
                broken.append(f"{rel} names {blob} of {size} bytes, it has {tree.files[blob][0]}")
            elif algorithm == "sha256" and tree.files[blob][1] != hexdigest:
                broken.append(f"{blob} does not hash to its name")
    for blob in tree.blobs:
        algorithm, _, hexdigest = blob.removeprefix("blobs/").partition("-")
        if algorithm == "sha256" and tree.files[blob][1] != hexdigest:
            message = f"{blob} does not hash to its name"
            if message not in broken:
                broken.append(message)
    return count, broken


def size_text(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def summary(tree: Tree) -> str:
    manifests, blobs = len(tree.manifest_files), len(tree.blobs)
    return (f"{len(tree.files)} files, {size_text(tree.total)}, {manifests} manifest{'s' * (manifests != 1)}, "
            f"{blobs} blob{'s' * (blobs != 1)}")
