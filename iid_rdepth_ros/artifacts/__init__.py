"""Artefacts layer: what files are and where they live (checkpoint references, ONNX metadata,
engine sidecars, caches), errors and lazy imports. Imports nothing else of the package."""
