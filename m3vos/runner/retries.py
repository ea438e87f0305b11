"""The retry rule every multi-worker executor (local processes, Ray actors) follows.

A worker that dies costs the video it held one attempt: the video goes back to the front of
the queue, and after `max_retries` retries it is recorded as failed (its temp files removed)
while the run goes on. A worker that keeps dying without holding a video (while loading) is
replaced at most `max_retries + 1` times, so a broken setup ends the run instead of looping.
"""

from __future__ import annotations

from collections import Counter, deque

from m3vos.runner.job import EventFn, Job


class Retries:
    """The queue of videos still to run and how often each one lost its worker."""

    def __init__(self, job: Job, names: list[str], on_event: EventFn, max_retries: int) -> None:
        self.job, self.on_event, self.max_retries = job, on_event, max_retries
        self.pending: deque[str] = deque(names)
        self.attempts: Counter[str] = Counter()

    def lost(self, name: str, died: str, cause: str = "") -> None:
        """`name`'s worker died (`died`: e.g. "worker process died (exit code 9)"): retried next,
        or recorded as failed once it has had `max_retries` retries."""
        self.attempts[name] += 1
        n = self.attempts[name]
        if n <= self.max_retries:
            self.pending.appendleft(name)  # retried next, by whichever worker is free
            return
        rec = {"video": name, "kind": "WorkerDied", "attempts": n,
               "error": f"{died} while running this video, {n} time(s); not retried again "
                        f"(--max-retries {self.max_retries})" + (f": {cause}" if cause else "")}
        store = self.job.store()
        store.clean_temps(name)  # what the dead worker was writing
        store.write_failed(name, rec)
        self.on_event("failed", name, rec)

    def may_replace(self, held_video: bool, deaths: int) -> bool:
        """Whether a dead worker gets a successor (`deaths`: how often this position died)."""
        return held_video or deaths <= self.max_retries + 1

    def fail_pending(self, why: str) -> None:
        """No worker is left: every video still queued is recorded as failed with `why`."""
        while self.pending:
            name = self.pending.popleft()
            rec = {"video": name, "error": why, "kind": "WorkerDied"}
            self.job.store().write_failed(name, rec)
            self.on_event("failed", name, rec)
