"""Facts are frozen and survive a round trip through JSON unchanged."""

from __future__ import annotations

import dataclasses
import json

import pytest

from gpuaccept.evidence import Evidence
from gpuaccept.facts import HostFacts
from gpuaccept.sources.build import build_facts
from tests.conftest import HOSTS


@pytest.mark.parametrize("name", ["dual-p40", "dual-p40-xid-79", "dual-p40-kmod-mismatch"])
def test_round_trip_through_json(name):
    facts = build_facts(Evidence.read(HOSTS / name), mode="replay", source=name)
    again = HostFacts.from_dict(json.loads(json.dumps(facts.to_dict())))
    assert again == facts


def test_facts_are_frozen():
    facts = build_facts(Evidence.read(HOSTS / "dual-p40"), mode="replay", source="x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        facts.gpus[0].name = "Tesla T4"
