"""Simulated device memory for the fake CUDA driver: what an allocation holds, described, not stored.

A GPU's 24 GiB cannot be backed by the test machine's RAM, so an allocation holds a *description* of
its words (the pattern the last whole-buffer write left: kernels.cu's ``pattern(i, kind, arg)``, maybe
complemented) plus a few explicitly written words. Faulty cells (stuck bits) are applied on every
read, so the ``check`` kernel's answer is computed exactly as the real kernel would write it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SOLID, WALK_ONES, WALK_ZEROS, RANDOM = 0, 1, 2, 3  # kernels.cu
U32, U64 = 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF
OPAQUE = ("opaque",)  # contents the simulation does not follow (floats of the burn, pageable host data)


class Unsimulated(Exception):
    """The suite asked for something this model does not follow (it never should: a test would fail)."""


def pattern(i: int, kind: int, arg: int) -> int:
    """kernels.cu's ``pattern`` for word ``i``."""
    if kind == SOLID:
        return arg & U32
    if kind == WALK_ONES:
        return 1 << ((i + arg) & 31)
    if kind == WALK_ZEROS:
        return ~(1 << ((i + arg) & 31)) & U32
    z = (i + (arg & U32) * 0x9E3779B97F4A7C15) & U64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & U64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & U64
    return (z ^ (z >> 31)) & U32


def describe(kind: int, arg: int, inverted: bool = False) -> tuple:
    """A canonical description, so equal contents compare equal (~SOLID w is SOLID ~w, ~WALK_ONES is WALK_ZEROS)."""
    arg &= U32
    if kind in (WALK_ONES, WALK_ZEROS):
        arg &= 31
    if inverted and kind == SOLID:
        return (SOLID, arg ^ U32, False)
    if inverted and kind in (WALK_ONES, WALK_ZEROS):
        return (WALK_ZEROS if kind == WALK_ONES else WALK_ONES, arg, False)
    return (kind, arg, inverted)


def value(desc: tuple, i: int) -> int:
    if desc == OPAQUE:
        raise Unsimulated("a read of memory whose contents the simulation does not follow")
    kind, arg, inverted = desc
    word = pattern(i, kind, arg)
    return word ^ U32 if inverted else word


@dataclass
class Allocation:
    base: int
    size: int
    desc: tuple = (SOLID, 0, False)  # fresh memory reads as zeros here (on a card: whatever was there)
    words: dict[int, int] = field(default_factory=dict)  # explicitly written words, by index
    stuck: dict[int, tuple[int, int]] = field(default_factory=dict)  # word index -> (mask, value) of stuck bits

    def stored(self, i: int) -> int:
        word = self.words[i] if i in self.words else value(self.desc, i)
        mask, bits = self.stuck.get(i, (0, 0))
        return (word & ~mask) | (bits & mask)

    def write_all(self, desc: tuple) -> None:
        self.desc, self.words = desc, {}

    def write_word(self, i: int, word: int) -> None:
        self.words[i] = word & U32

    def read_bytes(self, offset: int, count: int) -> bytes:
        if count > 1 << 20:
            raise Unsimulated(f"a {count}-byte read back to pageable host memory")
        first, last = offset // 4, (offset + count + 3) // 4
        data = b"".join(self.stored(i).to_bytes(4, "little") for i in range(first, last))
        return data[offset - 4 * first:offset - 4 * first + count]

    def check(self, n: int, kind: int, arg: int, slots: int) -> tuple[int, list[tuple[int, int, int]]]:
        """kernels.cu's ``check`` over words [0, n): the mismatch count and the first ``slots`` (index, want, got)."""
        want_desc = describe(kind, arg)
        if self.desc == want_desc:
            suspects = sorted(i for i in set(self.words) | set(self.stuck) if i < n)
        elif self.desc != OPAQUE and want_desc[0] != RANDOM and self.desc[0] != RANDOM and not self.desc[2]:
            return self._periodic_check(n, kind, arg, slots)
        else:
            raise Unsimulated(f"a check of {want_desc} over memory holding {self.desc}")
        found = [(i, pattern(i, kind, arg), self.stored(i)) for i in suspects]
        found = [f for f in found if f[1] != f[2]]
        return len(found), found[:slots]

    def _periodic_check(self, n: int, kind: int, arg: int, slots: int) -> tuple[int, list[tuple[int, int, int]]]:
        """Two different period-32 patterns (solid, walking): count per residue class, exact for any n."""
        special = set(self.words) | set(self.stuck)
        count = 0
        for r in range(32):
            if r >= n:
                break
            if value(self.desc, r) != pattern(r, kind, arg):
                count += (n - 1 - r) // 32 + 1
        for i in sorted(special):  # words that differ from the description: exact either way
            if i >= n:
                continue
            plain = value(self.desc, i) != pattern(i, kind, arg)
            real = self.stored(i) != pattern(i, kind, arg)
            count += int(real) - int(plain)
        # The first slots mismatches lie among the first 32 x slots words (a mismatching residue class
        # repeats every 32 words) or among the special words.
        candidates = sorted(set(range(min(n, 32 * slots))) | {i for i in special if i < n})
        first = [(i, pattern(i, kind, arg), self.stored(i)) for i in candidates]
        first = [f for f in first if f[1] != f[2]][:slots]
        return count, first
