"""SIGTERM handled as Ctrl-C (`m3vos.utils.signals`): raised in the main thread, handler restored."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from m3vos.utils.signals import sigterm_as_interrupt, sigterm_raises_interrupt


def test_sigterm_raises_keyboardinterrupt_inside_the_block_and_the_old_handler_returns() -> None:
    seen: list[int] = []
    old = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    try:
        with pytest.raises(KeyboardInterrupt), sigterm_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)   # after the block: the previous handler again
        assert seen == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, old)


def test_outside_the_main_thread_signals_are_left_alone() -> None:
    before = signal.getsignal(signal.SIGTERM)
    result: list[object] = []
    t = threading.Thread(target=lambda: result.append(sigterm_raises_interrupt()))
    t.start()
    t.join()
    assert result == [None] and signal.getsignal(signal.SIGTERM) is before
