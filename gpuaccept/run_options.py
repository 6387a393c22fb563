"""The acceptance run's options, tiers and exit statuses, as data: the suite's pytest plugin registers the
options from here (fixtures.options) and ``gpuaccept --help`` lists them from here (gpuaccept.cli), so the
two never tell different stories, and the command line needs no pytest to say them.
"""

from __future__ import annotations

from gpuaccept import profile as profiles
from gpuaccept import signing
from gpuaccept.summary import ACCEPTED, INCOMPLETE, INTERNAL_ERROR, INTERRUPTED, NOT_ACCEPTED

# option -> (ini name, metavar, help)
OPTIONS = {
    "--profile": ("acceptance_profile", "NAME|PATH",
                  f"requirement profile: a bundled name ({', '.join(profiles.bundled_names())}) or a TOML file"),
    "--expect-gpus": ("expect_gpus", "N", "number of GPUs expected (overrides the profile's gpus.count)"),
    "--psu-watts": ("psu_watts", "W", "PSU capacity in watts, for PWR-BUDGET (overrides power.psu_watts)"),
    "--replay": ("", "DIR", "judge saved evidence from DIR instead of this machine (a replay, never a live run)"),
    "--report-dir": ("report_dir", "DIR", "where run folders are written (default: reports)"),
    "--collect-timeout": ("collect_timeout", "SECONDS", "time limit for each NVML snapshot and host command (default 20)"),
    "--container": ("ollama_container", "NAME", "the Ollama container to check (overrides container.name)"),
    "--docker-host": ("docker_host", "URL", "Docker Engine to ask, e.g. unix:///var/run/docker.sock "
                      "(overrides container.docker_host; default DOCKER_HOST or the local socket)"),
    "--ollama-url": ("ollama_url", "URL", "Ollama API to check (overrides ollama.url; default http://127.0.0.1:11434)"),
    "--model": ("ollama_model", "NAME", "model to check and benchmark (overrides ollama.model; default qwen3:32b)"),
    "--soak-seconds": ("soak_seconds", "SECONDS", "GPU-SOAK's time under load in this run (instead of diag.soak_s; "
                       "a soak shorter than the profile's is reported, never accepted as the full one)"),
    "--technician": ("technician", "NAME", "who ran the acceptance (shown on the report's first screen)"),
    "--ticket": ("ticket", "ID", "the work order or ticket this run belongs to (shown on the first screen)"),
    "--pubkey": ("", "PATH", "with --replay: the OpenSSH public key (.pub) or allowed_signers file the replayed run "
                 "folder's signature must check against, as `gpuaccept verify --pubkey`; a folder not signed by it "
                 "is not trusted, so nothing in it passes (with --baseline: the baseline's signature too)"),
    "--baseline": ("", "RUN|latest-accepted", "HOST-DRIFT: compare this run with an earlier run folder of this host "
                   "(verified first; refused when it is another host's or does not verify), or with the newest "
                   "accepted live run of this host under the report folder"),
    "--prometheus-textfile": ("prometheus_textfile", "DIR", "also write the run's metrics.prom into DIR as "
                              "gpuaccept.prom, atomically: node_exporter's textfile-collector folder (a live run "
                              "of this machine only: never with --replay or --hosts)"),
    "--sign-key": ("", "PATH", "sign the run folder's MANIFEST.sha256 with this OpenSSH ed25519 private key "
                   f"(ssh-keygen -t ed25519; an encrypted key's passphrase is read from {signing.PASSPHRASE})"),
}
# flag -> help; flags have no ini twin: changing a machine is asked for on each run
FLAGS = {
    "--remediate": "fix what is safe to fix (launch or recreate the managed Ollama container keeping its "
                   "models, start it, set its restart policy, enable persistence mode as root) and record "
                   "each action; without it the suite only shows the plan",
    "--remediate-force": "with --remediate: also recreate a container the suite did not launch",
    "--keep-loaded": "leave the model loaded after the load tier's benchmark (default: unload it)",
    "--diag-force": "run the diag tier even though other compute processes hold a GPU (it allocates 90 %% of "
                    "the free memory and burns the cards; by default it refuses and allocates nothing)",
}


TIERS = ("quick", "load", "diag")  # the catalogue's tiers, selectable with -m
OPT_IN = ("diag",)  # tiers a bare run leaves out: they load the cards for minutes (-m diag runs them)
TIER_HELP = {
    "quick": "host, cards, driver, PCIe, container, Ollama API (seconds)",
    "load": "the model benchmark: does the model run on every GPU, and how fast (minutes)",
    "diag": "opt-in: PCIe copy bandwidth, link errors, memory test, full-power soak, peer copies (~12 min)",
}

# A run's exit statuses: (code, verdict or "", what it means). summary.run_verdict gives the codes.
EXIT_STATUSES = (
    (0, ACCEPTED, "every requirement passed, warned, was waived or does not apply, and one at least passed"),
    (1, NOT_ACCEPTED, "a requirement failed"),
    (2, INTERRUPTED, "the run was stopped (Ctrl-C, a signal) before it finished"),
    (3, INTERNAL_ERROR, "the suite itself failed (a bug: please report it with the run folder); what it judged "
                        "before is kept, and `internal_error` says what failed and in which phase"),
    (4, "", "a usage error: a bad option or profile"),
    (5, "", "no test was collected"),
    (6, INCOMPLETE, "nothing failed, but a requirement was not evaluated (or none was evaluated at all)"),
    (7, "", "the run folder could not be written (full, read-only, removed): the verdict shown on the terminal "
            "is not archived, and the folder does not become `reports/latest`"),
)
