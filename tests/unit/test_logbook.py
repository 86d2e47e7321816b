"""The daemon's log book: the latest lines of each resource, numbered, bounded per resource and per line."""

from __future__ import annotations

import threading

from devstack.observe.logbook import LogBook


def test_a_chatty_resource_drops_its_own_oldest_lines_never_a_quiet_ones() -> None:
    book = LogBook(per_resource=3)
    book.add("quiet", "the only line")
    for n in range(10):
        book.add("chatty", f"line {n}")
    lines, skipped = book.since(0, 100)
    assert [(line[2], line[4]) for line in lines] == [("quiet", "the only line"), ("chatty", "line 7"),
                                                      ("chatty", "line 8"), ("chatty", "line 9")]
    assert skipped == 7
    assert [line[0] for line in lines] == [1, 9, 10, 11]  # numbered in the order they came, across resources


def test_since_gives_the_newest_within_the_limit_and_counts_the_rest() -> None:
    book = LogBook()
    for n in range(10):
        book.add("a" if n % 2 else "b", str(n))
    lines, skipped = book.since(4, 3)
    assert [line[4] for line in lines] == ["7", "8", "9"]
    assert skipped == 3  # 4, 5 and 6 (numbers 5 to 7) were left out by the limit
    assert book.since(10, 5) == ([], 0)


def test_a_long_line_is_cut_and_says_so() -> None:
    book = LogBook(line_chars=10)
    book.add("a", "x" * 25)
    assert book.since(0, 1)[0][0][4] == "x" * 10 + "… (15 more characters)"


def test_matching_finds_any_needle_case_insensitively() -> None:
    book = LogBook()
    book.add("relay", "<ABC@example.test> sent")
    book.add("kumod", '{"id":"deadbeef","headers":{}}')
    book.add("sink", "nothing here")
    assert [line[2] for line in book.matching(["abc@EXAMPLE.test", "deadbeef", ""])] == ["relay", "kumod"]


def test_writers_in_threads_lose_nothing_and_readers_see_order() -> None:
    book = LogBook(per_resource=100_000)
    writers = [threading.Thread(target=lambda r=r: [book.add(r, str(n)) for n in range(5000)]) for r in "abcd"]
    for writer in writers:
        writer.start()
    seen = 0
    while any(w.is_alive() for w in writers):
        lines, skipped = book.since(seen, 100_000)
        assert skipped == 0 and [line[0] for line in lines] == list(range(seen + 1, seen + 1 + len(lines)))
        seen += len(lines)
    for writer in writers:
        writer.join()
    assert book.count == 20_000 and len(book.since(0, 100_000)[0]) == 20_000
