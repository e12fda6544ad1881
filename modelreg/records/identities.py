"""Identities (``--author``, ``$MODELREG_AUTHOR``, git ``user.name``, a login name): who did what.

Two spellings that a reviewer cannot tell apart on a screen must be one person, or a requester
approves their own request as ``alice\u200b`` or ``ａｌｉｃｅ``. So identities are compared after
NFKC normalisation and case folding, with default-ignorable and format characters dropped and
blanks collapsed; and an identity holding such invisible characters is refused when recorded.
"""

from __future__ import annotations

import unicodedata

# Default_Ignorable_Code_Point (Unicode's DerivedCoreProperties) that are not of category Cf,
# which is checked apart: combining grapheme joiner, Hangul fillers, Khmer inherent vowels,
# Mongolian variation selectors, variation selectors, tag and reserved ranges.
_IGNORABLE_RANGES = (
    (0x034F, 0x034F),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)


def invisible(ch: str) -> bool:
    """A format (Cf) or default-ignorable character: drawn as nothing, or not at all."""
    if unicodedata.category(ch) == "Cf":
        return True
    code = ord(ch)
    return any(low <= code <= high for low, high in _IGNORABLE_RANGES)


def has_invisible(text: str) -> bool:
    return any(invisible(ch) for ch in text)


def person(who: str) -> str:
    """Who an identity names, for telling people apart: ``Alice``, ``alice ``, ``ａｌｉｃｅ`` and
    ``al\u00adice`` are one person."""
    text = unicodedata.normalize("NFKC", who)
    text = "".join(ch for ch in text if not invisible(ch))
    text = unicodedata.normalize("NFKC", text.casefold())
    return " ".join(text.split())
