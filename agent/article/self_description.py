"""The advisor's own project description, for `advisor recommend --about-self`."""
from .source import knowledge_dir

SELF_DESCRIPTION_FILE = knowledge_dir() / "about_self.en.txt"
