"""The hourly allowance of documents per server: only adds that succeed count, adds in progress hold a place."""

from __future__ import annotations

import pytest

from bot.cogs.corpus import UploadAllowance
from bot.tree import UserFacingError


def test_failed_adds_do_not_count_and_adds_in_progress_hold_their_place():
    now = [1000.0]
    allowance = UploadAllowance(2, clock=lambda: now[0])
    with pytest.raises(ValueError), allowance.place(7):
        raise ValueError("refused by the engine")  # e.g. a bad date: not counted
    with allowance.place(7), allowance.place(7):  # two adds at the same moment
        with pytest.raises(UserFacingError, match="limit of 2 documents an hour; try again in a minute"):
            with allowance.place(7):
                pass
    with pytest.raises(UserFacingError) as refused:
        with allowance.place(7):
            pass
    assert str(refused.value) == (
        "This server has reached its limit of 2 documents an hour; it can add another <t:4601:R> (at <t:4601:t>)."
    )
    with allowance.place(8):  # another server has its own allowance
        pass
    now[0] = 4600.5  # an hour after the first two adds
    with allowance.place(7):
        pass
