"""Backend adapters. Each runs inside a worker process; importing this package loads no backend."""

from llm_compare.inferencers.base import Inferencer, LocalInferencer, create_inferencer, register

__all__ = ["Inferencer", "LocalInferencer", "create_inferencer", "register"]
