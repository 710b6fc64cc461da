"""Pictures and a self-contained HTML page of a picking run (no files read or written here)."""
