"""A small most-recent-first cache for work done once per table (manifest, control table).

Entries are found by a predicate rather than a hash: tables are known by identity (``is``), and
address lists by value, neither of which a dict key expresses cheaply.
"""

from __future__ import annotations


class RecentCache:
    """At most ``size`` entries, the most recently used first.

    A hit moves to the front, so a batch's manifest stays while per-sample tables (inferred
    channels) come and go around it.
    """

    def __init__(self, size: int = 4):
        self.size = size
        self._entries: list = []

    def find(self, matches):
        """The first entry that ``matches``, moved to the front; None if none does."""
        for position, entry in enumerate(self._entries):
            if matches(entry):
                self._entries.insert(0, self._entries.pop(position))
                return entry
        return None

    def add(self, entry):
        """Put ``entry`` first, dropping the least recently used beyond ``size``; returns it."""
        self._entries.insert(0, entry)
        del self._entries[self.size:]
        return entry
