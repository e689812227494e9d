"""corr.background: work in a thread, read where asked."""

import threading

import pytest

from corr.background import in_background


def test_the_result_is_read_where_asked():
    assert in_background(lambda: 42, "t").result() == 42


def test_what_the_work_raised_is_raised_where_read_and_nothing_printed(capsys):
    def failing():
        raise ValueError("no luck")
    future = in_background(failing, "t")
    with pytest.raises(ValueError, match="no luck"):
        future.result()
    with pytest.raises(ValueError, match="no luck"):
        future.result()
    assert capsys.readouterr() == ("", "")


def test_without_a_thread_to_be_had_the_work_is_done_at_once(monkeypatch):
    def refused(self):
        raise RuntimeError("can't start new thread")
    monkeypatch.setattr(threading.Thread, "start", refused)
    ran_in = []
    future = in_background(lambda: ran_in.append(threading.current_thread()) or 7, "t")
    assert future.done() and future.result() == 7
    assert ran_in == [threading.current_thread()]
