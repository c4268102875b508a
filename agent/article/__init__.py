"""The article as knowledge: its verbatim text and section map, chunks, the on-disk index, search, and the quote behind each claim."""
