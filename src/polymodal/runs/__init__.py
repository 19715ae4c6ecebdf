"""Run directories and the `Job` base every job shares (see job.py and directory.py)."""
