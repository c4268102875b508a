"""Cut each section into quotable chunks with llama-index, never across a section boundary."""
from __future__ import annotations

from .source import Article
from ..types import Chunk

# Characters, not model tokens: quotes are shown to people, so 'a few sentences' is the unit.
CHUNK_CHARS = 180
CHUNK_OVERLAP = 0


def _splitter():
    from llama_index.core.node_parser import SentenceSplitter

    return SentenceSplitter(
        chunk_size=CHUNK_CHARS,
        chunk_overlap=CHUNK_OVERLAP,
        tokenizer=list,  # count characters; also avoids tiktoken's encoding download
        paragraph_separator="\n",
        secondary_chunking_regex="[^,.;。？！?!；]+[,.;。？！?!；]?",
    )


def chunk_article(article: Article) -> list[Chunk]:
    """Split every non-empty section; each chunk keeps its section id, heading path and offsets."""
    from llama_index.core import Document

    splitter = _splitter()
    chunks: list[Chunk] = []
    for sec in article.sections:
        if not sec.text.strip():
            continue
        nodes = splitter.get_nodes_from_documents([Document(text=sec.text)])
        cursor = 0
        for i, node in enumerate(nodes):
            text = node.get_content().strip()
            pos = sec.text.find(text, cursor)
            if pos < 0:  # the splitter normalised something: fall back to a whole-text search
                pos = sec.text.find(text)
            if pos < 0:
                raise ValueError(f"chunk of {sec.id} is not verbatim: {text[:40]!r}")
            cursor = pos + len(text)
            start = sec.start + pos
            chunks.append(Chunk(
                chunk_id=f"{sec.id}#{i}", section_id=sec.id, heading_path=sec.heading_path,
                text=text, source_start=start, source_end=start + len(text),
            ))
    return chunks
