"""The only places that touch the outside world: NVML, host commands, saved evidence."""
