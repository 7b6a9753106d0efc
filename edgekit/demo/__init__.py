"""The quickstart and its stories: a demo of the whole flow on bundled data, not library code."""
