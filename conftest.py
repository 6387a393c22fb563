# The suite's pytest plugins, one concern per module under fixtures/.
pytest_plugins = [
    "fixtures.options",
    "fixtures.run_folder",
    "fixtures.host_facts",
    "fixtures.requirements",
    "fixtures.remediation",
    "fixtures.run_record",
    "fixtures.html_report",
    "fixtures.fleet",  # last: in a fleet run (--hosts) its per-host host_facts and profile fixtures take over
]
