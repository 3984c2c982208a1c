"""Resolving a model string to a Pydantic AI model: hosted, Ollama, a URL, a GGUF, bundled."""
