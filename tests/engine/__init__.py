"""Real Docker Engines for the self-tests, with a stand-in for the NVIDIA Container Toolkit.

``daemons`` starts private ``dockerd`` instances (own socket, data root, exec root and bridge), one
with the stand-in ``nvidia-container-runtime-hook`` on its PATH and one without, so the engine's own
GPU device-driver logic runs; ``image`` builds a tiny Ollama stand-in image from Debian's
``busybox-static`` (there is no registry here); ``hook`` is what dockerd runs at container prestart.
"""
