"""Remediation: plan what is safe to fix from the facts (pure), then apply it (Docker SDK, NVML)."""
