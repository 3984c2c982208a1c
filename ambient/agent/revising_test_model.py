"""``AMBIENT_MODEL=test``: Pydantic AI's ``TestModel``, able to go round the feedback loop.

TestModel calls every tool once with arguments made up from their schemas, retries what failed,
then gives its final result. Answered with feedback (a denied approval), it would give its final
result straight away, so trying ambient without a model would never show a revised draft. This
subclass calls the tools the user answered with feedback again (with made-up arguments, as
TestModel would); everything else is TestModel's own behaviour. It sends nothing anywhere.
"""

from __future__ import annotations

from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.models import ModelRequestParameters
from pydantic_ai.models.test import TestModel
from pydantic_ai.settings import ModelSettings

from ambient.agent.feedback import answered_with_feedback


class RevisingTestModel(TestModel):
    def _request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        tools = {tool.name: tool for tool in model_request_parameters.function_tools}
        redraft = [name for name in answered_with_feedback(messages) if name in tools]
        if not redraft:
            return super()._request(messages, model_settings, model_request_parameters)
        calls = [ToolCallPart(name, self.gen_tool_args(tools[name])) for name in redraft]
        return ModelResponse(parts=list(calls), model_name=self.model_name)
