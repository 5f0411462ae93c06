"""What a call between services raises when it produced no usable response."""

from __future__ import annotations


def describe(error: BaseException) -> str:
    """`Type: message` (or just the type when the message is empty)."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class ServiceCallError(Exception):
    """A call to another service that produced no usable response."""

    def __init__(self, message: str, *, target: str) -> None:
        super().__init__(message)
        self.target = target


class CircuitOpenError(ServiceCallError):
    """The target's circuit is open: the call was refused without touching the network."""

    def __init__(self, target: str, retry_after_s: float) -> None:
        super().__init__(f"circuit open for {target}", target=target)
        self.retry_after_s = retry_after_s


class ServiceUnavailableError(ServiceCallError):
    """The target could not be reached (transport errors) on any permitted attempt."""

    def __init__(self, target: str, url: str, attempts: int, error: Exception) -> None:
        super().__init__(
            f"{target} unavailable after {attempts} attempt(s): {describe(error)}", target=target
        )
        self.url = url
        self.attempts = attempts
