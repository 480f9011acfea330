"""The process-kill fault runs, on SQLite and PostgreSQL.

Every `bot.py run` they start (tests/processes.py) is in a process group of its own that dies
with the test process and is killed whole at teardown: a failed run leaves no bot behind to
claim the rows of the next test's database (the cause of the PostgreSQL full-suite timeouts
of 2026-11-30, when these runs were skipped there).
"""
