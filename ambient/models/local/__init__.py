"""The bundled offline model: llama.cpp in process, grammar-constrained answers."""
