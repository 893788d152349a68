"""Backend adapters. Each runs inside a worker process; importing this package loads no backend."""

from llm_compare.inferencers.base import BaseInferencer, create_inferencer, register

__all__ = ["BaseInferencer", "create_inferencer", "register"]
