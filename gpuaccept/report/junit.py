"""junit.xml of a host folder that no pytest session wrote (each host of a fleet), from its record.

The shape is the one pytest's own JUnit writer gives a single-host run (xunit1, this project's
``junit_family``): suite properties mode, host, source, profile, run_id, technician, ticket; one
``testcase`` per requirement case named by its case id, with the properties requirement, verdict,
measured, expected and message; ``failure``, ``error`` or ``skipped`` where the case did not pass. A CI
server or a test-report tool reads a fleet host's folder as it reads any run folder.
"""

from __future__ import annotations

from typing import Any

# A case's outcome -> the element pytest's writer gives it (a warn, a pass, has none); not evaluated and
# not applicable are skips to pytest, a waiver an expected failure (also a skip in JUnit).
_ELEMENT = {"fail": "failure", "error": "error", "skip": "skipped", "not_evaluated": "skipped", "xfail": "skipped"}
SUITE_PROPERTIES = ("mode", "host", "source", "profile", "run_id", "technician", "ticket")


def _xml_text(value: Any) -> str:
    """Text XML 1.0 can hold: characters it forbids (a host's raw bytes) become U+FFFD."""
    return "".join(c if c in "\t\n\r" or " " <= c <= "\ud7ff" or "\ue000" <= c <= "\ufffd" or c >= "\U00010000"
                   else "\ufffd" for c in str(value))


def junit(record: dict[str, Any]) -> str:
    from xml.etree import ElementTree  # late: writing only (nothing is parsed here); imported where it is used

    run = record.get("run", {})
    cases = [(rid, req.get("tier", ""), c) for rid, req in record.get("requirements", {}).items() for c in req["cases"]]
    count = {kind: sum(1 for _, _, c in cases if _ELEMENT.get(c.get("outcome", "")) == kind)
             for kind in ("failure", "error", "skipped")}
    suites = ElementTree.Element("testsuites", name="gpuaccept")
    suite = ElementTree.SubElement(suites, "testsuite", name="gpuaccept", errors=str(count["error"]),
                                   failures=str(count["failure"]), skipped=str(count["skipped"]),
                                   tests=str(len(cases)), timestamp=_xml_text(run.get("started_at", "")),
                                   hostname=_xml_text(run.get("host", "")))
    properties = ElementTree.SubElement(suite, "properties")
    values = {"mode": run.get("mode", ""), "host": run.get("host", ""), "source": run.get("source", ""),
              "profile": (run.get("profile") or {}).get("name", ""), "run_id": run.get("id", ""),
              "technician": run.get("technician", ""), "ticket": run.get("ticket", "")}
    for name in SUITE_PROPERTIES:
        ElementTree.SubElement(properties, "property", name=name, value=_xml_text(values[name]))
    for rid, tier, case in cases:
        outcome = case.get("outcome", "")
        node = ElementTree.SubElement(suite, "testcase", classname=f"acceptance.{tier}" if tier else "acceptance",
                                      name=_xml_text(case.get("id", "")))
        props = ElementTree.SubElement(node, "properties")
        said = {"requirement": rid, "verdict": outcome, "measured": case.get("measured", ""),
                "expected": case.get("expected", ""), "message": case.get("message", "")}
        for name, value in said.items():
            if value or name in ("requirement", "verdict"):
                ElementTree.SubElement(props, "property", name=name, value=_xml_text(value))
        kind = _ELEMENT.get(outcome)
        if kind is not None:
            message = _xml_text(case.get("message", ""))
            element = ElementTree.SubElement(node, kind, message=message[:2000])
            if kind != "skipped":
                element.text = message
    return '<?xml version="1.0" encoding="utf-8"?>' + ElementTree.tostring(suites, encoding="unicode") + "\n"
