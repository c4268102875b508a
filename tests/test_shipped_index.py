"""The prebuilt index in knowledge/index/ matches the bundled article, section map and wording."""
import pytest

from agent.article.embeddings import LocalE5
from agent.article.index import SHIPPED_DIR, _load, cache_key, load_or_build
from agent.article.source import load_article

pytestmark = pytest.mark.no_index_seed


def test_shipped_index_is_current():
    key = cache_key(load_article(), LocalE5())
    assert _load(SHIPPED_DIR / key) is not None, "the shipped index is stale: run `make ship-index` and commit knowledge/index"
    assert [p.name for p in SHIPPED_DIR.iterdir()] == [key], "only the current index should be shipped"


def test_a_first_run_copies_the_shipped_index_instead_of_building(tmp_path):
    data = load_or_build(load_article(), LocalE5(), tmp_path / "index")
    assert not data.built and data.path.parent == tmp_path / "index"
    assert load_or_build(load_article(), LocalE5(), tmp_path / "index").path == data.path
