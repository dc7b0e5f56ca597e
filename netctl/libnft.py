"""In-process nftables through libnftables (ctypes on libnftables.so.1), never a fork of `nft`.

One `Nft` context runs command buffers as single kernel transactions: either every command of a
buffer takes effect, or none does. The context works in the network namespace of the calling thread.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import threading
from typing import Any

_OUTPUT_HANDLE = 1 << 3
_OUTPUT_JSON = 1 << 4
_OUTPUT_TERSE = 1 << 11  # leave set elements out of listings
_lib: ctypes.CDLL | None = None
_lib_lock = threading.Lock()


class NftError(Exception):
    """libnftables refused a command buffer; the kernel is unchanged."""

    def __init__(self, message: str, script: str = "") -> None:
        self.script = script
        super().__init__(message.strip() or "nftables refused the commands")


class NftUnavailable(RuntimeError):
    """libnftables.so.1 is not installed (Debian package libnftables1)."""


def _library() -> ctypes.CDLL:
    global _lib
    with _lib_lock:
        if _lib is None:
            name = ctypes.util.find_library("nftables") or "libnftables.so.1"
            try:
                lib = ctypes.CDLL(name)
            except OSError as exc:
                raise NftUnavailable(
                    f"cannot load libnftables ({exc}): apt-get install libnftables1"
                ) from None
            lib.nft_ctx_new.restype = ctypes.c_void_p
            lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
            lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
            lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
            lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
            lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
            lib.nft_ctx_get_output_buffer.argtypes = [ctypes.c_void_p]
            lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
            lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
            lib.nft_ctx_set_dry_run.argtypes = [ctypes.c_void_p, ctypes.c_bool]
            lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
            lib.nft_run_cmd_from_buffer.restype = ctypes.c_int
            lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
            _lib = lib
        return _lib


class Nft:
    """A libnftables context. Not thread-safe: use one per thread."""

    def __init__(self) -> None:
        self._lib = _library()
        ctx = self._lib.nft_ctx_new(0)
        if not ctx:
            raise NftUnavailable("nft_ctx_new failed")
        self._ctx = ctypes.c_void_p(ctx)
        self._lib.nft_ctx_buffer_output(self._ctx)
        self._lib.nft_ctx_buffer_error(self._ctx)

    def close(self) -> None:
        """Free the context."""
        if self._ctx:
            self._lib.nft_ctx_free(self._ctx)
            self._ctx = ctypes.c_void_p()

    def __enter__(self) -> Nft:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(
        self,
        script: str,
        *,
        check_only: bool = False,
        json_output: bool = False,
        terse: bool = False,
    ) -> str:
        """Run a buffer of nft commands as one transaction and return its output.

        With `check_only`, the kernel validates the transaction and then discards it (`nft -c`);
        `terse` leaves set elements out of listings.
        Raises `NftError` with libnftables' message when the buffer is refused.
        """
        self._lib.nft_ctx_set_dry_run(self._ctx, check_only)
        flags = (_OUTPUT_JSON | _OUTPUT_HANDLE) if json_output else 0
        flags |= _OUTPUT_TERSE if terse else 0
        self._lib.nft_ctx_output_set_flags(self._ctx, flags)
        try:
            rc = self._lib.nft_run_cmd_from_buffer(self._ctx, script.encode())
        finally:
            self._lib.nft_ctx_set_dry_run(self._ctx, False)
        output = (self._lib.nft_ctx_get_output_buffer(self._ctx) or b"").decode()
        errors = (self._lib.nft_ctx_get_error_buffer(self._ctx) or b"").decode()
        if rc != 0:
            raise NftError(errors, script)
        return output

    def query(self, command: str, *, terse: bool = False) -> list[dict[str, Any]]:
        """Run a `list …` command and return its JSON objects (metainfo dropped)."""
        out = self.run(command, json_output=True, terse=terse)
        if not out.strip():
            return []
        items = json.loads(out).get("nftables", [])
        return [item for item in items if "metainfo" not in item]
