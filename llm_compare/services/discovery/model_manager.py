"""Find models on disk (Hugging Face folders and GGUF files) from their headers, without loading weights:
in the model directories, and in other apps' model folders (Ollama, LM Studio, the Hugging Face cache)."""

from __future__ import annotations

import errno
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llm_compare.core.errors import ConfigurationError, ModelNotFoundError, one_line
from llm_compare.core.models import ModelInfo, ModelMetadata, ModelType, model_id_for
from llm_compare.services.discovery.gguf_header import (
    GGUFHeader,
    GGUFHeaderError,
    file_type_name,
    has_gguf_magic,
    read_gguf_header,
)
from llm_compare.services.discovery.hf_folder import (
    CONFIG_FILE,
    is_model_config,
    is_model_file,
    read_hf_folder,
    valid_config_values,
    weight_files,
)
from llm_compare.services.discovery.ollama import read_ollama_folder
from llm_compare.services.discovery.other_apps import OLLAMA, AppModelFolder
from llm_compare.services.endpoints import catalog
from llm_compare.services.endpoints.health import HealthBook
from llm_compare.services.endpoints.registry import EndpointRegistry

log = logging.getLogger(__name__)

DEFAULT_MODEL_DIR = Path("models")
_SPLIT_GGUF = re.compile(r"^(?P<stem>.+)-(?P<index>\d{5})-of-(?P<total>\d{5})(?P<ext>\.gguf)$", re.IGNORECASE)
# GGUF general.sampling.* key -> ModelConfig field
_GGUF_SAMPLING_KEYS = {
    "general.sampling.temp": "temperature",
    "general.sampling.top_k": "top_k",
    "general.sampling.top_p": "top_p",
    "general.sampling.penalty_repeat": "repeat_penalty",
}
_NOT_FOUND_HINT = (
    "give a model id, name, GGUF file or model folder (`llm-compare scan` lists them), "
    "or an endpoint model as NAME#MODEL or BASE_URL#MODEL"
)
VOCABULARY_ONLY_ERROR = (
    "vocabulary only, no weights: this GGUF file holds a tokenizer but no tensors (use the model's full GGUF "
    "file)"
)
NO_TENSORS_ERROR = "no weights: this GGUF file holds no tensors"


@dataclass
class _GGUFGroup:
    """One GGUF model: a single file, or the shards of a split file (shards[i] is None when missing)."""

    folder: Path
    name: str
    shard_names: list[str]
    shards: list[Path | None] = field(default_factory=list)

    @property
    def present(self) -> list[Path]:
        return [p for p in self.shards if p is not None]

    @property
    def missing(self) -> list[str]:
        return [name for name, p in zip(self.shard_names, self.shards) if p is None]


class ModelManager:
    """Discovers models under `model_dirs` and in `app_folders`, and resolves the references users type."""

    def __init__(
        self,
        model_dirs: list[str | Path] | str | Path | None = None,
        max_models: int = 4,
        app_folders: Iterable[AppModelFolder] = (),
        endpoints: EndpointRegistry | None = None,
        api_key_env: str | None = None,
    ):
        """`app_folders`: other apps' model folders scanned after the directories. `endpoints`: the saved
        endpoints whose models are listed beside the local ones (default: the data directory's).
        `api_key_env`: the key's variable for BASE_URL references."""
        if max_models < 1:
            raise ConfigurationError(f"max_models must be at least 1 (got {max_models})")
        self.model_dirs = _as_paths(DEFAULT_MODEL_DIR if model_dirs is None else model_dirs)
        self.app_folders = list(app_folders)
        self.max_models = max_models
        self._models: list[ModelInfo] | None = None
        # GGUF headers by (path, size, mtime): a rescan re-reads only files that changed.
        self._header_cache: dict[tuple[str, int, int], GGUFHeader | GGUFHeaderError] = {}
        self.endpoints = endpoints if endpoints is not None else EndpointRegistry()
        self.health = HealthBook(self.endpoints.path.parent)
        self.api_key_env = api_key_env

    @property
    def models(self) -> list[ModelInfo]:
        """The models found by the last scan (empty before the first)."""
        return list(self._models or [])

    def scan(self, dirs: list[str | Path] | str | Path | None = None) -> list[ModelInfo]:
        """Find every model under `dirs` (default: model_dirs, and the other apps' folders), sorted
        by name then path."""
        roots = self.model_dirs if dirs is None else _as_paths(dirs)
        by_path: dict[str, tuple[int, ModelInfo]] = {}
        visited: set[tuple[int, int]] = set()
        cache, self._header_cache = self._header_cache, {}
        for root in roots:
            if root.is_dir():
                found = self._walk(root, visited, cache)
            elif root.is_file():
                try:
                    found = [self._inspect_file(root, cache)]
                except ModelNotFoundError as exc:
                    log.warning("%s", exc)
                    continue
            else:
                log.warning("model directory %s does not exist", root)
                continue
            _keep_one_per_path(by_path, found)
        for folder in self.app_folders if dirs is None else []:
            found = (
                self._ollama(folder.path, cache)
                if folder.kind == OLLAMA
                else self._walk(folder.path, visited, cache)
            )
            for _, info in found:
                info.metadata.app = folder.label
            _keep_one_per_path(by_path, found)
        local = sorted((info for _, info in by_path.values()), key=lambda m: (m.name.lower(), m.path))
        self._models = local + catalog.list_all(self.endpoints, self.health)
        return self.models

    def scan_models(self, directory: str | Path | None = None) -> list[ModelInfo]:
        """Old name of scan()."""
        return self.scan(None if directory is None else [directory])

    def get(self, ref: str | Path) -> ModelInfo:
        """The model with this id or exact name, or the model at this path (inspected if not scanned)."""
        models = self._models if self._models is not None else self.scan()
        text = str(ref)
        for model in models:
            if model.id == text:
                return model
        named = [m for m in models if m.name == text] or [
            m for m in models if text in (m.metadata.aliases or [])
        ]
        if len(named) > 1:
            ids = ", ".join(m.id for m in named)
            raise ModelNotFoundError(f"{len(named)} models are named {text!r} ({ids}); use an id")
        if named:
            return named[0]
        if catalog.is_endpoint_ref(text):
            return catalog.resolve(text, self.endpoints, self.health, self.api_key_env)
        path = Path(text).expanduser()
        if text and path.exists():
            resolved = str(path.resolve())
            for model in models:
                if model.path == resolved:
                    return model
            return self.inspect(path)
        raise ModelNotFoundError(f"no model matches {text!r}: {_NOT_FOUND_HINT}")

    def select_models(self, ids: Iterable[str], *, usable_only: bool = True) -> list[ModelInfo]:
        """The models to compare, checked: at least one, at most max_models, all usable unless
        `usable_only` is False (then the caller reports each unusable one by itself)."""
        chosen: dict[str, ModelInfo] = {}
        for ref in [ids] if isinstance(ids, str) else ids:
            model = self.get(ref)
            chosen.setdefault(model.id, model)
        if not chosen:
            raise ConfigurationError("choose at least one model")
        if len(chosen) > self.max_models:
            raise ConfigurationError(
                f"choose at most {self.max_models} models to compare (got {len(chosen)})"
            )
        for model in chosen.values():
            if usable_only and not model.usable:
                raise ConfigurationError(model.unusable_reason)
        return list(chosen.values())

    def inspect(self, path: str | Path) -> ModelInfo:
        """Describe the model at `path`: a GGUF file (any shard of a split one) or a model folder."""
        path = Path(path).expanduser().absolute()
        if path.is_dir():
            names = _visible_files(path)
            if CONFIG_FILE in names:
                return self._hf_info(path, set(names))
            raise ModelNotFoundError(
                f"{path} is not a model folder (no config.json); scan it to search inside"
            )
        if path.is_file():
            return self._inspect_file(path, self._header_cache)[1]
        raise ModelNotFoundError(f"no such file or folder: {path}")

    # Discovery

    def _walk(self, root: Path, visited: set, cache: dict) -> list[tuple[int, ModelInfo]]:
        found = []
        stack = [root]
        while stack:
            folder = stack.pop()
            try:
                st = folder.stat()
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in visited:  # symlink loops and folders reached twice
                continue
            visited.add((st.st_dev, st.st_ino))
            try:
                found.extend(self._folder_models(folder, stack, cache))
            except Exception as exc:  # an unforeseen failure costs this folder, never the scan
                log.warning("cannot search %s: %s", folder, one_line(exc))
        return found

    def _folder_models(self, folder: Path, stack: list[Path], cache: dict) -> list[tuple[int, ModelInfo]]:
        """The models in `folder` itself; its sub-folders to search are pushed on `stack`."""
        found = []
        try:
            files, subdirs, broken = _list_folder(folder)
        except OSError as exc:
            log.warning("cannot list %s: %s", folder, exc.strerror or exc)
            return found
        gguf_names = [n for n in files if n.lower().endswith(".gguf")]
        broken_model_files = {n: reason for n, reason in broken.items() if is_model_file(n)}
        names = set(files) | set(broken_model_files)
        is_model_folder = CONFIG_FILE in names and bool(
            weight_files(names)[0]
            or (not gguf_names and CONFIG_FILE in files and is_model_config(files[CONFIG_FILE]))
        )
        if is_model_folder:
            # A model folder: its sub-folders (onnx/, original/...) belong to it. GGUF files beside
            # its weights are separate models.
            found.append((0, self._hf_info(folder, set(files), broken_model_files)))
            candidates = {n: files[n] for n in gguf_names}
        else:
            candidates = {n: p for n, p in files.items() if n in gguf_names or has_gguf_magic(p)}
            stack.extend(reversed(subdirs))
        for group in _group_ggufs(folder, candidates):
            rank = 0 if group.shard_names[0].lower().endswith(".gguf") else 1
            found.append((rank, self._gguf_info(group, cache)))
        for name, reason in broken.items():
            if name.lower().endswith(".gguf"):
                link = folder / name
                found.append((0, _unusable(ModelType.GGUF, link, name[: -len(".gguf")], f"{name} {reason}")))
            elif not (is_model_folder and name in broken_model_files):  # else its model says so
                log.warning("skipping %s: %s", folder / name, reason)
        return found

    def _inspect_file(self, path: Path, cache: dict) -> tuple[int, ModelInfo]:
        if path.name.lower().endswith(".gguf") or has_gguf_magic(path):
            candidates = {n: p for n, p in _visible_files(path.parent).items() if n.lower().endswith(".gguf")}
            candidates[path.name] = path
            for group in _group_ggufs(path.parent, candidates):
                if path.name in group.shard_names:
                    return 0, self._gguf_info(group, cache)
        if CONFIG_FILE in _visible_files(path.parent):  # a file inside a model folder
            return 0, self._hf_info(path.parent, set(_visible_files(path.parent)))
        raise ModelNotFoundError(f"{path} is neither a GGUF file nor inside a model folder")

    def _ollama(self, root: Path, cache: dict) -> list[tuple[int, ModelInfo]]:
        """Ollama's models under their Ollama names: one per blob (tags of one blob are aliases)."""
        try:
            entries = read_ollama_folder(root)
        except Exception as exc:  # an unforeseen failure costs this folder, never the scan
            log.exception("cannot read Ollama's models folder %s", root)
            return [
                (0, _unusable(ModelType.GGUF, root / "manifests", "Ollama's manifests", _unforeseen(exc)))
            ]
        found = []
        by_blob: dict[str, list[str]] = {}
        for entry in entries:
            if entry.blob is None:
                found.append((0, _unusable(ModelType.GGUF, entry.manifest, entry.name, entry.error)))
            else:
                by_blob.setdefault(os.path.realpath(entry.blob), []).append(entry.name)
        for blob, names in by_blob.items():
            # `llama3.2` means `llama3.2:latest` to Ollama; a tag naming the size reads better.
            names.sort(key=lambda n: (n.endswith(":latest"), n))
            path = Path(blob)
            info = self._gguf_info(
                _GGUFGroup(folder=path.parent, name=names[0], shard_names=[path.name], shards=[path]), cache
            )
            info.metadata.aliases = names[1:] + [
                n.removesuffix(":latest") for n in names if n.endswith(":latest")
            ]
            found.append((0, info))
        return found

    # Description

    def _hf_info(self, folder: Path, names: set[str], broken: dict[str, str] | None = None) -> ModelInfo:
        """Describe a model folder; `broken` maps its files that are links leading nowhere to why."""
        try:
            return self._describe_hf(folder, names, broken or {})
        except Exception as exc:  # an unforeseen failure stays with this model
            log.exception("cannot describe %s", folder)
            return _unusable(ModelType.PYTORCH, folder, _hf_folder_name(folder), _unforeseen(exc))

    def _describe_hf(self, folder: Path, names: set[str], broken: dict[str, str]) -> ModelInfo:
        hf = read_hf_folder(folder, names)
        metadata = ModelMetadata(
            architecture=hf.architecture,
            parameters=hf.parameters,
            quantization=hf.quantization or hf.dtype,
            context_length=hf.context_length,
            has_chat_template=hf.has_chat_template,
            generation_defaults=hf.generation_defaults,
            format=hf.weights_format,
            files=hf.files,
            mtime=hf.mtime,
            vocab_size=hf.vocab_size,
            block_count=hf.block_count,
            kv_width=hf.kv_width,
        )
        name = _hf_folder_name(folder)
        path = folder.resolve()
        return ModelInfo(
            id=model_id_for(path, name),
            name=name,
            type=ModelType.PYTORCH,
            path=str(path),
            size_bytes=hf.size_bytes,
            metadata=metadata,
            error=next((f"{name} {reason}" for name, reason in sorted(broken.items())), hf.error),
        )

    def _gguf_info(self, group: _GGUFGroup, cache: dict) -> ModelInfo:
        try:
            return self._describe_gguf_group(group, cache)
        except Exception as exc:  # an unforeseen failure stays with this model
            log.exception("cannot describe %s", group.folder / group.shard_names[0])
            return _unusable(
                ModelType.GGUF, group.folder / group.shard_names[0], group.name, _unforeseen(exc)
            )

    def _describe_gguf_group(self, group: _GGUFGroup, cache: dict) -> ModelInfo:
        first = group.shards[0] or group.folder / group.shard_names[0]
        path = first.resolve()
        metadata = ModelMetadata(
            format="gguf",
            files=[p.name for p in group.present],
            has_chat_template=False,
            generation_defaults={},
        )
        size_bytes, mtimes, error = 0, [], None
        for shard in group.present:
            try:
                st = shard.stat()
            except OSError as exc:
                error = error or f"cannot read {shard.name}: {exc.strerror or exc}"
                continue
            size_bytes += st.st_size
            mtimes.append(st.st_mtime)
        metadata.mtime = max(mtimes, default=None)
        headers = []
        for shard in group.present:
            try:
                headers.append(self._read_header(shard, cache))
            except (GGUFHeaderError, OSError) as exc:
                reason = str(exc) if isinstance(exc, GGUFHeaderError) else f"cannot read: {exc.strerror}"
                error = error or (f"{shard.name}: {reason}" if len(group.shard_names) > 1 else reason)
                break
        if group.missing:
            error = f"missing shard(s): {', '.join(group.missing)}"
        if headers and group.shards[0] is not None:
            complete = error is None and len(headers) == len(group.shard_names)
            problem = _describe_gguf(headers, metadata, first_only=not complete)
            error = error or problem
        return ModelInfo(
            id=model_id_for(path, group.name),
            name=group.name,
            type=ModelType.GGUF,
            path=str(path),
            size_bytes=size_bytes,
            metadata=metadata,
            error=error,
        )

    def _read_header(self, path: Path, cache: dict) -> GGUFHeader:
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        result = cache.get(key)
        if result is None:
            try:
                result = read_gguf_header(path)
            except GGUFHeaderError as exc:
                result = exc
        self._header_cache[key] = result
        if isinstance(result, GGUFHeaderError):
            raise result
        return result


def _keep_one_per_path(by_path: dict[str, tuple[int, ModelInfo]], found: list[tuple[int, ModelInfo]]) -> None:
    for rank, info in found:
        # Two links to one file are one model; keep the name of a *.gguf link over a bare blob.
        if info.path not in by_path or rank < by_path[info.path][0]:
            by_path[info.path] = (rank, info)


def _describe_gguf(
    headers: list[GGUFHeader], metadata: ModelMetadata, first_only: bool = False
) -> str | None:
    """Fill `metadata` from the shards' headers (in shard order); return an error, or None."""
    kv = headers[0].metadata
    arch = kv.get("general.architecture") if isinstance(kv.get("general.architecture"), str) else None
    metadata.architecture = arch
    metadata.declared_name = kv.get("general.name") if isinstance(kv.get("general.name"), str) else None
    metadata.context_length = _positive_int(kv.get(f"{arch}.context_length"))
    metadata.vocab_size = headers[0].array_lengths.get("tokenizer.ggml.tokens") or _positive_int(
        kv.get(f"{arch}.vocab_size")
    )
    metadata.has_chat_template = bool(kv.get("tokenizer.chat_template"))
    metadata.generation_defaults = valid_config_values(
        {name: kv[key] for key, name in _GGUF_SAMPLING_KEYS.items() if key in kv}
    )
    metadata.block_count = _positive_int(kv.get(f"{arch}.block_count"))
    metadata.kv_width = _gguf_kv_width(kv, arch)
    file_type = kv.get("general.file_type")
    metadata.file_type = file_type_name(file_type) if isinstance(file_type, int) else None
    if first_only:  # some shards are missing or unreadable: counts would be wrong
        metadata.quantization = metadata.file_type
        return None
    tensors = [t for h in headers for t in h.tensors]
    metadata.parameters = sum(t.n_elements for t in tensors)
    bytes_by_type: dict[str, int] = {}
    for tensor in tensors:
        if len(tensor.shape) >= 2 and tensor.n_bytes is not None:
            bytes_by_type[tensor.type_name] = bytes_by_type.get(tensor.type_name, 0) + tensor.n_bytes
    dominant = max(sorted(bytes_by_type), key=bytes_by_type.__getitem__, default=None)
    metadata.quantization = dominant or metadata.file_type
    if not tensors:  # llama.cpp ships such files as its tokenizers' test data
        return (
            VOCABULARY_ONLY_ERROR if "tokenizer.ggml.tokens" in headers[0].array_lengths else NO_TENSORS_ERROR
        )

    if len(headers) > 1 or "split.count" in kv:
        declared = kv.get("split.count")
        if isinstance(declared, int) and declared != len(headers):
            return f"split.count says {declared} shards but the file names say {len(headers)}"
        declared_tensors = kv.get("split.tensors.count")
        if isinstance(declared_tensors, int) and declared_tensors != len(tensors):
            return f"the shards hold {len(tensors)} tensors but split.tensors.count says {declared_tensors}"
    if kv.get("general.type") == "adapter":
        return "a LoRA adapter, not a model: load it together with its base model"
    if arch == "clip" or kv.get("general.type") == "mmproj":
        return "a multimodal projector (mmproj), not a language model"
    return None


def _gguf_kv_width(kv: dict[str, Any], arch: str | None) -> int | None:
    heads = _positive_int(kv.get(f"{arch}.attention.head_count"))
    # A per-layer head_count_kv array is not read: falling back to all heads over-estimates, never under.
    kv_heads = _positive_int(kv.get(f"{arch}.attention.head_count_kv")) or heads
    head_size = max(
        _positive_int(kv.get(f"{arch}.attention.key_length")) or 0,
        _positive_int(kv.get(f"{arch}.attention.value_length")) or 0,
    )
    embedding = _positive_int(kv.get(f"{arch}.embedding_length"))
    if not head_size and embedding and heads:
        head_size = embedding // heads
    return kv_heads * head_size if kv_heads and head_size else None


def _group_ggufs(folder: Path, files: dict[str, Path]) -> list[_GGUFGroup]:
    """One group per model: `name-00001-of-00003.gguf` and its siblings form one."""
    groups: list[_GGUFGroup] = []
    splits: dict[tuple[str, int, str], dict[int, Path]] = {}
    for name in sorted(files):
        match = _SPLIT_GGUF.match(name)
        if match and 1 <= int(match["index"]) <= int(match["total"]):
            key = (match["stem"], int(match["total"]), match["ext"])
            splits.setdefault(key, {})[int(match["index"])] = files[name]
        else:
            stem = name[: -len(".gguf")] if name.lower().endswith(".gguf") else name
            groups.append(_GGUFGroup(folder=folder, name=stem, shard_names=[name], shards=[files[name]]))
    for (stem, total, ext), shards in splits.items():
        shard_names = [f"{stem}-{i:05d}-of-{total:05d}{ext}" for i in range(1, total + 1)]
        groups.append(
            _GGUFGroup(
                folder=folder,
                name=stem,
                shard_names=shard_names,
                shards=[shards.get(i) for i in range(1, total + 1)],
            )
        )
    return groups


def _list_folder(folder: Path) -> tuple[dict[str, Path], list[Path], dict[str, str]]:
    """Visible regular files (by name), sub-folders, and entries that cannot be followed (by name,
    with why: a broken symlink, a symlink loop), following symlinks; hidden entries skipped."""
    files: dict[str, Path] = {}
    subdirs: list[Path] = []
    broken: dict[str, str] = {}
    with os.scandir(folder) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name.startswith("."):  # .git, .cache, partial downloads
                continue
            try:
                if entry.is_dir():
                    subdirs.append(Path(entry.path))
                elif entry.is_file():  # never FIFOs or devices: opening those can block
                    files[entry.name] = Path(entry.path)
                elif entry.is_symlink() and not os.path.exists(entry.path):
                    broken[entry.name] = _link_problem(entry.path, None)
            except OSError as exc:  # a symlink loop, or a target we may not look at
                broken[entry.name] = _link_problem(entry.path, exc)
    return files, subdirs, broken


def _link_problem(path: str, exc: OSError | None) -> str:
    """Why the entry at `path` cannot be followed, and what to do, as the end of a sentence."""
    try:
        target = os.readlink(path)
    except OSError:
        return f"cannot be read: {exc.strerror if exc else 'unknown error'}"
    if exc is not None and exc.errno == errno.ELOOP:
        return (
            f"is a symlink loop (it points to {target!r}, which leads back to itself): fix or remove the link"
        )
    if exc is not None:
        return f"is a symlink to {target!r}, which cannot be read: {exc.strerror or exc}"
    return (
        f"is a broken symlink: {target!r} does not exist (download the file again, or fix or remove the link)"
    )


def _unusable(model_type: ModelType, path: Path, name: str, error: str) -> ModelInfo:
    """A model that cannot be described at all, listed with the one-line reason."""
    is_gguf = model_type == ModelType.GGUF
    metadata = ModelMetadata(
        format="gguf" if is_gguf else None,
        files=[path.name] if is_gguf else [],
        has_chat_template=False,
        generation_defaults={},
    )
    return ModelInfo(
        id=model_id_for(path, name),
        name=name,
        type=model_type,
        path=str(path),
        size_bytes=0,
        metadata=metadata,
        error=error,
    )


def _unforeseen(exc: BaseException) -> str:
    return f"cannot read this model ({one_line(exc)}); check its files"


def _visible_files(folder: Path) -> dict[str, Path]:
    try:
        return _list_folder(folder)[0]
    except OSError:
        return {}


def _hf_folder_name(folder: Path) -> str:
    # In the Hugging Face cache a model lives in models--org--name/snapshots/<commit>/.
    if folder.parent.name == "snapshots" and folder.parent.parent.name.startswith("models--"):
        return folder.parent.parent.name.split("--")[-1]
    return folder.name


def _positive_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _as_paths(dirs: Iterable[str | Path] | str | Path) -> list[Path]:
    if isinstance(dirs, (str, Path)):
        dirs = [dirs]
    return [Path(d).expanduser().absolute() for d in dirs]
