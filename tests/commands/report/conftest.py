"""The report's browser tests share one Chromium (tests/support/browser.py)."""

from support.browser import browser, open_page  # noqa: F401
