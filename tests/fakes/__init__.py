"""Local fake servers that stand in for model providers in tests."""

from fakes.servers import DEFAULT_TEXT, HTML_PAGE, FakeGemini, FakeOpenAI, FakeServer, Recorded, Reply

__all__ = ["DEFAULT_TEXT", "HTML_PAGE", "FakeGemini", "FakeOpenAI", "FakeServer", "Recorded", "Reply"]
