from epiclock.cache import RecentCache


def test_a_hit_moves_to_the_front_and_the_least_recently_used_entry_goes():
    cache = RecentCache(size=2)
    first, second = cache.add(["first"]), cache.add(["second"])
    assert cache.find(lambda entry: entry is first) is first      # first is now the most recent
    cache.add(["third"])                                           # so second, the least recent, goes
    assert cache.find(lambda entry: entry is second) is None
    assert cache.find(lambda entry: entry is first) is first
    assert cache.find(lambda entry: entry == ["third"]) == ["third"]
