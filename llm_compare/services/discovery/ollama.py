"""Ollama's models folder read from its manifests: each `manifests/<registry>/<namespace>/<model>/<tag>`
file is a JSON manifest whose model layer names a GGUF blob, `blobs/sha256-<hex>` (no extension).
Models are named as Ollama shows them: `llama3.2:3b`, `user/model:tag`, `hf.co/org/repo:Q4_K_M`."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

MODEL_LAYER = "application/vnd.ollama.image.model"
ADAPTER_LAYER = "application/vnd.ollama.image.adapter"
DEFAULT_REGISTRY = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
_NAME_PARTS = 4  # registry, namespace, model, tag
_MAX_MANIFEST_BYTES = 1 << 20  # real ones are about 1 KB
_DIGEST = re.compile(r"^sha256[:-](?P<hex>[0-9a-f]{64})$")


@dataclass(frozen=True)
class OllamaModel:
    """One manifest: its model's name, and its GGUF blob, or why it cannot be used."""

    name: str
    manifest: Path
    blob: Path | None
    error: str | None = None


def ollama_name(parts: tuple[str, ...] | list[str]) -> str:
    """The name Ollama shows for manifests/<parts...>: the default registry and the `library`
    namespace left out, the tag after a colon. Also for a partial path (a folder)."""
    shown = list(parts)
    if shown[:1] == [DEFAULT_REGISTRY]:
        shown = shown[2:] if shown[1:2] == [DEFAULT_NAMESPACE] else shown[1:]
    if len(parts) == _NAME_PARTS:
        return "/".join(shown[:-1]) + ":" + shown[-1]
    return "/".join(shown or parts) or "Ollama's manifests"


def read_ollama_folder(root: Path) -> list[OllamaModel]:
    """Every manifest under `root`/manifests, in name order. A manifest that cannot be used, and
    a folder that cannot be read, is listed with a one-line reason; the others are unaffected."""
    found: list[OllamaModel] = []
    stack: list[tuple[Path, tuple[str, ...]]] = [(root / "manifests", ())]
    while stack:
        folder, parts = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except FileNotFoundError:
            continue  # a folder without models yet
        except OSError as exc:
            found.append(OllamaModel(ollama_name(parts), folder, None, _unreadable_folder(exc)))
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            here = parts + (entry.name,)
            try:
                is_dir = entry.is_dir()
            except OSError as exc:  # a symlink loop, or a target we may not look at
                found.append(OllamaModel(ollama_name(here), Path(entry.path), None, _unreadable_folder(exc)))
                continue
            if is_dir and len(here) < _NAME_PARTS:
                stack.append((Path(entry.path), here))
            elif not is_dir and len(here) == _NAME_PARTS:
                found.append(read_manifest(root, Path(entry.path), ollama_name(here)))
            # anything else is not part of Ollama's layout: not a model
    return sorted(found, key=lambda m: m.name)


def read_manifest(root: Path, manifest: Path, name: str) -> OllamaModel:
    """The model of one manifest file: its GGUF blob under `root`/blobs, or why not."""
    pull_again = f"pull it again (`ollama pull {name}`) or remove it (`ollama rm {name}`)"
    try:
        with open(manifest, "rb") as f:
            data = f.read(_MAX_MANIFEST_BYTES + 1)
    except OSError as exc:
        return OllamaModel(name, manifest, None, f"cannot read its manifest: {exc.strerror or exc}")
    if len(data) > _MAX_MANIFEST_BYTES:
        return OllamaModel(
            name, manifest, None, f"its manifest is over 1 MiB, not an Ollama manifest: {pull_again}"
        )
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        where = (
            f" ({exc.msg} at line {exc.lineno} column {exc.colno})"
            if isinstance(exc, json.JSONDecodeError)
            else ""
        )
        return OllamaModel(name, manifest, None, f"its manifest is not valid JSON{where}: {pull_again}")
    layers = document.get("layers") if isinstance(document, dict) else None
    if not isinstance(layers, list):
        return OllamaModel(name, manifest, None, f"its manifest has no list of layers: {pull_again}")
    media_types = [layer.get("mediaType") for layer in layers if isinstance(layer, dict)]
    models = [layer for layer in layers if isinstance(layer, dict) and layer.get("mediaType") == MODEL_LAYER]
    if len(models) != 1:
        count = "no model layer" if not models else f"{len(models)} model layers"
        return OllamaModel(
            name,
            manifest,
            None,
            f"its manifest has {count} ({MODEL_LAYER}): not a model llm-compare can read",
        )
    if ADAPTER_LAYER in media_types:
        return OllamaModel(
            name,
            manifest,
            None,
            "it applies a LoRA adapter on its base model, which llm-compare does not: compare the base model",
        )
    digest = models[0].get("digest")
    match = _DIGEST.match(digest) if isinstance(digest, str) else None
    if match is None:
        return OllamaModel(
            name,
            manifest,
            None,
            f"its manifest's model layer has no valid digest (got {digest!r}): {pull_again}",
        )
    blobs = root / "blobs"
    # Ollama names blobs sha256-<hex>; versions before 0.1.32 wrote sha256:<hex>.
    for blob in (blobs / f"sha256-{match['hex']}", blobs / f"sha256:{match['hex']}"):
        if os.path.lexists(blob):
            return OllamaModel(name, manifest, blob)
    return OllamaModel(
        name,
        manifest,
        None,
        f"its model blob sha256-{match['hex'][:12]}… is missing from {blobs}: {pull_again}",
    )


def _unreadable_folder(exc: OSError) -> str:
    return (
        f"cannot read this folder of Ollama's manifests ({exc.strerror or exc}): "
        "check its permissions and links"
    )
