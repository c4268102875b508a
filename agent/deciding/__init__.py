"""Deciding: the article's framework as a policy over a profile, and the interview that asks only what could change the decision. Never reads text."""
