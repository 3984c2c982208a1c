# scripts/setup has CMake include this right after llama.cpp's project() when pip builds
# llama-cpp-python (CMAKE_PROJECT_llama.cpp_INCLUDE). It leaves out llama.cpp's "common" library
# (command-line arguments, chat-template parsers, model downloads over HTTP, and the HTTP library
# under them): most of the compile time, turned on by llama-cpp-python's CMakeLists although its
# Python bindings load only libllama and ggml.
set(LLAMA_BUILD_COMMON OFF CACHE BOOL "llama.cpp: build common utils library" FORCE)
