"""The diag tier: active card diagnostics through NVIDIA's CUDA driver bindings (``pip install -e '.[diag]'``).

PCIe copy bandwidth, memory pattern tests, a full-power soak and peer access, each timed on the GPU and
watched by the NVML sampler; ``run.run_diag`` returns the ``diag.json`` evidence. Only ``cuda.py`` talks
to the driver.
"""
