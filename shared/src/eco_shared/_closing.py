"""Context-manager halves for objects that are closed, or started and stopped."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class AsyncClosing:
    """`async with` support for an object whose `close()` releases what it holds."""

    async def close(self) -> None:
        """Release what this object holds."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class Started:
    """`with` support for an object that is `start()`ed on entry and `stop()`ped on exit."""

    def start(self) -> Self:
        """Start, and return self once ready."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop what `start` started."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
