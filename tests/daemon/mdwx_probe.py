"""Run under the seccomp filter systemd installs for MemoryDenyWriteExecute=yes, then do what the
daemon does with native code: ctypes callbacks (libffi closures), the bundled GGUF model loaded
and answering through llama-cpp with a grammar, SQLite, TLS. Prints "ok" and exits 0 if it all
works.

Usage: python mdwx_probe.py [--no-filter]. The filter mirrors systemd's
seccomp_memory_deny_write_execute(): mmap with PROT_WRITE|PROT_EXEC, mprotect/pkey_mprotect with
PROT_EXEC and shmat with SHM_EXEC fail with EPERM.
"""

from __future__ import annotations

import ctypes
import mmap
import sqlite3
import ssl
import sys

PROT_WRITE, PROT_EXEC, SHM_EXEC = 2, 4, 0o100000
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_ACT_ERRNO_EPERM = 0x00050000 | 1
SCMP_CMP_MASKED_EQ = 7
PR_SET_NO_NEW_PRIVS = 38


class Comparison(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


def deny_write_execute() -> None:
    seccomp = ctypes.CDLL("libseccomp.so.2")
    seccomp.seccomp_init.restype = ctypes.c_void_p
    seccomp.seccomp_init.argtypes = [ctypes.c_uint32]
    seccomp.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    seccomp.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(Comparison),
    ]
    seccomp.seccomp_load.argtypes = [ctypes.c_void_p]
    context = seccomp.seccomp_init(SCMP_ACT_ALLOW)
    for name, mask in (
        ("mmap", PROT_WRITE | PROT_EXEC),
        ("mprotect", PROT_EXEC),
        ("pkey_mprotect", PROT_EXEC),
        ("shmat", SHM_EXEC),
    ):
        number = seccomp.seccomp_syscall_resolve_name(name.encode())
        rule = (Comparison * 1)(Comparison(2, SCMP_CMP_MASKED_EQ, mask, mask))
        if seccomp.seccomp_rule_add_array(context, SCMP_ACT_ERRNO_EPERM, number, 1, rule) != 0:
            raise SystemExit(f"cannot add the {name} rule")
    ctypes.CDLL(None).prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if seccomp.seccomp_load(context) != 0:
        raise SystemExit("cannot load the seccomp filter")
    try:
        mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    except PermissionError:
        return
    raise SystemExit("the filter is not active: a writable+executable mapping was allowed")


def main() -> None:
    if "--no-filter" not in sys.argv:
        deny_write_execute()
    callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)(lambda value: value * 2)
    assert callback(21) == 42
    # the bundled model: load, then a grammar-constrained completion (decode + sampling)
    import llama_cpp

    from ambient.models.local.model import default_model_path

    defaults = llama_cpp.llama_cpp.llama_model_default_params

    def parameters() -> object:  # as ambient.models.local.model loads it: no extra buffer types
        values = defaults()
        if hasattr(values, "use_extra_bufts"):
            values.use_extra_bufts = False
        return values

    llama_cpp.llama_cpp.llama_model_default_params = parameters
    llm = llama_cpp.Llama(
        model_path=str(default_model_path()), n_ctx=256, n_threads=1, verbose=False
    )
    grammar = llama_cpp.LlamaGrammar.from_string('root ::= "yes" | "no"', verbose=False)
    answer = llm.create_completion("Q: Is the sky blue?\nA:", max_tokens=2, grammar=grammar)
    assert answer["choices"][0]["text"] in ("yes", "no"), answer
    sqlite3.connect(":memory:").execute("select 1")
    ssl.create_default_context()
    print("ok")


if __name__ == "__main__":
    main()
