"""newsbot: feeds and article pages in, hashtag-routed summaries out to Telegram, X and an email digest."""

__version__ = "0.1.0"
