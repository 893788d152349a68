"""Other apps' model folders laid out the way those apps write them, around real model files: for
tests of their discovery (Ollama's manifests and blobs, LM Studio's folders, the Hugging Face
hub cache with its symlinks into blobs/)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from llm_compare.services.discovery.ollama import (
    ADAPTER_LAYER,
    DEFAULT_NAMESPACE,
    DEFAULT_REGISTRY,
    MODEL_LAYER,
)

CONFIG_MEDIA_TYPE = "application/vnd.docker.container.image.v1+json"
MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def add_ollama_blob(root: Path, data: bytes) -> str:
    """Store `data` as Ollama does (blobs/sha256-<hex>); return its digest, `sha256:<hex>`."""
    hex_digest = hashlib.sha256(data).hexdigest()
    (root / "blobs").mkdir(parents=True, exist_ok=True)
    (root / "blobs" / f"sha256-{hex_digest}").write_bytes(data)
    return f"sha256:{hex_digest}"


def add_ollama_model(
    root: Path,
    model: str,
    tag: str,
    gguf: Path | None,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    registry: str = DEFAULT_REGISTRY,
    model_digest: str | None = None,
    adapter: bool = False,
) -> Path:
    """Write `model:tag` into the Ollama store at `root` the way `ollama pull` leaves it: the GGUF
    file copied to a blob named by its SHA-256, a template and a params blob, a config blob, and the
    manifest naming them. `model_digest` overrides the model layer's digest (a blob never written).
    Returns the manifest's path."""
    layers = []
    if gguf is not None or model_digest is not None:
        if model_digest is None:
            (root / "blobs").mkdir(parents=True, exist_ok=True)
            hex_digest = sha256_file(gguf)
            blob = root / "blobs" / f"sha256-{hex_digest}"
            if not blob.exists():
                shutil.copyfile(gguf, blob)
            model_digest = f"sha256:{hex_digest}"
        layers.append(
            {"mediaType": MODEL_LAYER, "digest": model_digest, "size": gguf.stat().st_size if gguf else 0}
        )
    for media_type, data in (
        ("application/vnd.ollama.image.template", b"{{ .Prompt }}"),
        ("application/vnd.ollama.image.params", b'{"stop": ["<|eot_id|>"]}'),
    ) + ((ADAPTER_LAYER, b"adapter weights"),) * adapter:
        layers.append({"mediaType": media_type, "digest": add_ollama_blob(root, data), "size": len(data)})
    config = json.dumps({"model_format": "gguf", "model_family": "llama"}).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {
            "mediaType": CONFIG_MEDIA_TYPE,
            "digest": add_ollama_blob(root, config),
            "size": len(config),
        },
        "layers": layers,
    }
    return write_ollama_manifest(
        root, model, tag, json.dumps(manifest), namespace=namespace, registry=registry
    )


def write_ollama_manifest(
    root: Path,
    model: str,
    tag: str,
    text: str,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    registry: str = DEFAULT_REGISTRY,
) -> Path:
    path = root / "manifests" / registry / namespace / model / tag
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def add_lmstudio_model(root: Path, publisher: str, model: str, gguf: Path) -> Path:
    """LM Studio's layout: models/<publisher>/<model>/<file>.gguf."""
    folder = root / publisher / model
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / gguf.name
    shutil.copyfile(gguf, target)
    return target


def add_hf_cache_repo(hub: Path, repo_id: str, source: Path, revision: str = "0" * 40) -> Path:
    """`source` (a model folder, or one file) cached as huggingface_hub does: every file's content
    in models--org--name/blobs/<sha256>, and snapshots/<revision>/<file> a relative symlink to it;
    refs/main names the revision. Returns the snapshot folder."""
    repo = hub / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo / "blobs").mkdir(exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
    for file in files:
        relative = Path(file.name) if source.is_file() else file.relative_to(source)
        blob = repo / "blobs" / sha256_file(file)
        shutil.copyfile(file, blob)
        link = snapshot / relative
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    return snapshot
