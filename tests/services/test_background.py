"""The lifecycle a comparison, a benchmark and a scoring share: a thread, Stop, waiting, and how
the job ended, told in one line."""

import logging
import threading

from llm_compare.core.errors import ConfigurationError
from llm_compare.services.background import BackgroundJob


class Steps(BackgroundJob):
    """Takes steps until stopped (or until `steps` are done); `fail` is raised at the first step."""

    def __init__(self, steps: int = 1_000_000, fail: Exception | None = None):
        self.interrupted = threading.Event()
        super().__init__("test job", interrupt=self.interrupted.set)
        self.steps, self.fail = steps, fail
        self.taken, self.wrapped_up_before_finished = 0, None
        self.threads: set[str] = set()

    def _work(self) -> None:
        self.threads.add(threading.current_thread().name)
        if self.fail:
            raise self.fail
        while self.taken < self.steps and not self.stop_requested:
            self.taken += 1
            self.interrupted.wait(0.001)

    def _wrap_up(self) -> None:
        self.wrapped_up_before_finished = not self.finished


def test_a_started_job_runs_on_its_own_thread_until_done():
    job = Steps(steps=3).start()
    assert job.wait(10) and job.finished
    assert job.taken == 3 and job.error is None and not job.stop_requested
    assert job.threads == {"test job"}
    assert job.wrapped_up_before_finished


def test_run_does_the_work_in_the_calling_thread():
    job = Steps(steps=3).run()
    assert job.finished and job.taken == 3
    assert job.threads == {threading.current_thread().name}


def test_cancel_interrupts_the_step_in_flight_and_ends_the_job():
    job = Steps().start()
    assert not job.wait(0.05)  # still taking steps
    job.cancel()
    assert job.wait(10)
    assert job.stop_requested and job.interrupted.is_set() and job.error is None
    assert job.taken < job.steps


def test_cancel_after_the_end_interrupts_nothing():
    """The engine a finished job used may be running someone else's work by now."""
    job = Steps(steps=1).run()
    job.cancel()
    assert not job.stop_requested and not job.interrupted.is_set()


def test_our_error_ends_the_job_with_its_own_message():
    job = Steps(fail=ConfigurationError("no model selected: choose one")).start()
    assert job.wait(10)
    assert job.error == "no model selected: choose one"
    assert job.wrapped_up_before_finished


def test_an_unexpected_error_is_one_line_and_its_traceback_goes_to_the_log(caplog):
    with caplog.at_level(logging.ERROR, logger="llm_compare.services.background"):
        job = Steps(fail=OSError("disk on fire\nTraceback (most recent call last): ...")).run()
    assert job.error == "the test job failed unexpectedly: OSError: disk on fire (the log has the details)"
    assert job.wrapped_up_before_finished
    assert [r.exc_info[0] for r in caplog.records] == [OSError]
