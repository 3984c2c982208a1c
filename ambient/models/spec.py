"""A model string read and checked without building the model (see ``ambient.models.resolve``
for the forms): the daemon checks AMBIENT_MODEL at start-up and builds the model, importing
Pydantic AI and the provider's SDK, only when something uses it.

The check finds what building would find for the forms ambient knows (a malformed string, a
missing key, a bad base URL, a GGUF file that is not there); for any other ``PROVIDER:NAME``
only Pydantic AI knows whether the provider exists (:attr:`ModelSpec.checked` is False).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ambient.core.config import Secrets, Settings
from ambient.core.errors import ConfigError

EXPECTED_FORMS = (
    "expected empty (the bundled offline model), test, openai:NAME, openai-chat:NAME, "
    "anthropic:NAME, google:NAME, ollama:NAME, openai-compatible:BASE_URL#NAME, BASE_URL#NAME, "
    "gguf:PATH or another PROVIDER:NAME that Pydantic AI knows"
)
LOCAL, TEST, GGUF = "local", "test", "gguf"  # the bundled model, the demo model, a GGUF file
KNOWN = (LOCAL, TEST, GGUF, "openai", "openai-chat", "anthropic", "google", "ollama")
OPENAI_COMPATIBLE = "openai-compatible"


@dataclass(frozen=True)
class ModelSpec:
    """One model string, read: which provider, which model, and what it was given."""

    provider: str  # LOCAL, TEST, GGUF, a KNOWN provider, OPENAI_COMPATIBLE, or another
    name: str  # GGUF: the file's resolved path
    where: str  # `SETTING='value'`, for messages
    api_key: str | None = None
    base_url: str | None = None

    @property
    def in_process(self) -> bool:
        """Run in this process by llama.cpp (the bundled model or a GGUF file)."""
        return self.provider in (LOCAL, GGUF)

    @property
    def checked(self) -> bool:
        """False for a provider only Pydantic AI knows: building the model checks it."""
        return self.provider in KNOWN or self.provider == OPENAI_COMPATIBLE


def model_specs(settings: Settings, secrets: Secrets) -> list[ModelSpec]:
    """AMBIENT_MODEL and AMBIENT_FALLBACK_MODEL (if set), checked: a ConfigError names the
    setting and what is wrong with it."""
    specs = [model_spec(settings.model, secrets, setting="AMBIENT_MODEL")]
    if settings.fallback_model is not None:
        fallback = settings.fallback_model
        specs.append(model_spec(fallback, secrets, setting="AMBIENT_FALLBACK_MODEL"))
    return specs


def model_spec(value: str, secrets: Secrets, *, setting: str) -> ModelSpec:
    text = value.strip()
    where = f"{setting}={value!r}"
    if text in ("", TEST):
        return ModelSpec(text or LOCAL, text, where)
    prefix, separator, name = text.partition(":")
    prefix, name = prefix.strip().lower(), name.strip()
    if not separator or not name:
        raise ConfigError(f"{where}: {EXPECTED_FORMS}")
    if prefix in ("http", "https"):  # a bare OpenAI-compatible base URL
        return _openai_compatible(text, secrets, where)
    match prefix:
        case "gguf":
            path = Path(name).expanduser()
            if not path.is_file():
                raise ConfigError(f"{where}: {path} is not a file (expected a .gguf model)")
            return ModelSpec(GGUF, str(path.resolve()), where)
        case "openai" | "openai-chat":
            return ModelSpec(prefix, name, where, _key(secrets, where, "OPENAI_API_KEY"))
        case "anthropic":
            return ModelSpec(prefix, name, where, _key(secrets, where, "ANTHROPIC_API_KEY"))
        case "google":
            key = _key(secrets, where, "GOOGLE_API_KEY", "GEMINI_API_KEY")
            return ModelSpec(prefix, name, where, key)
        case "ollama":
            base_url = _base_url(_key(secrets, where, "OLLAMA_BASE_URL"), "OLLAMA_BASE_URL", where)
            if not urlsplit(base_url).path.rstrip("/").endswith("/v1"):
                base_url = base_url.rstrip("/") + "/v1"
            return ModelSpec(prefix, name, where, secrets.get("OLLAMA_API_KEY"), base_url)
        case "openai-compatible":
            return _openai_compatible(name, secrets, where)
        case other:
            return ModelSpec(other, name, where)


def _openai_compatible(target: str, secrets: Secrets, where: str) -> ModelSpec:
    base_url, separator, name = target.rpartition("#")
    if not separator or not name.strip():
        raise ConfigError(
            f"{where}: expected [openai-compatible:]BASE_URL#MODEL_NAME, "
            "e.g. http://127.0.0.1:8080/v1#qwen3-4b"
        )
    url = _base_url(base_url, "the base URL", where)
    key = secrets.get("OPENAI_COMPATIBLE_API_KEY")
    return ModelSpec(OPENAI_COMPATIBLE, name.strip(), where, key, url)


def _key(secrets: Secrets, where: str, *names: str) -> str:
    for name in names:
        key = secrets.get(name)
        if key is not None:
            return key
    raise ConfigError(f"{where}: needs {' or '.join(names)} (environment or .env)")


def _base_url(url: str, what: str, where: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{where}: {what} {url!r} is not an http(s) URL")
    return url.strip()
