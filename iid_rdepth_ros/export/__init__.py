"""Deployment export: ONNX graphs, TensorRT compatibility check, engine building.

Submodules import their heavy dependencies (torch, onnx, tensorrt) lazily.
"""
