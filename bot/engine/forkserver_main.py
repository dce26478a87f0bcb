"""Imported only in the upload forkserver (bot/engine/sandbox.py preloads it): runs the parent's
main script there once, as Python 3.14's forkserver does for "__main__" in its preload list.

Earlier versions ignore that entry (CPython gh-126631, gh-137996), so every child ran the main
script again before reading its upload; the ``talksbot`` script imports the whole bot, which made
each upload's child take 0.4-0.6 s instead of milliseconds. With the script imported here as the
forkserver's ``__main__`` under the path the children are sent, they find it already there.
"""

import os
from multiprocessing import process, spawn

from bot.engine.sandbox import MAIN_PATH_VARIABLE

_path = os.environ.get(MAIN_PATH_VARIABLE)
if _path:
    process.current_process()._inheriting = True  # what the forkserver sets around the same call
    try:
        spawn.import_main_path(_path)
    finally:
        del process.current_process()._inheriting
