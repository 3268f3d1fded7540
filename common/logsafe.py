"""Log lines that cannot be forged: control characters in a record's message are escaped.

Paths, query strings, request ids and the provider's error descriptions come from people we
do not trust; a CR or LF among them would start a line of the attacker's own in the log, an
ESC would drive the terminal of whoever reads it. `EscapeControlCharacters` rewrites each
record's formatted message (`record.getMessage()`) with every C0 control character, DEL, the C1
controls and the Unicode line and paragraph separators written as `\\xNN` / `\\uNNNN`, so one
record is one line whatever its arguments held. A traceback (`exc_info`) keeps its own line
breaks: the formatter adds it after the message.

`install(*loggers)` puts it on loggers (a logger's filters see only the records it creates, not
those of its children, so each logger a component writes to is named); a handler's `filters`
take it too (run.py's handlers, common/serve.py's), which then covers libraries' loggers.
"""

from __future__ import annotations

import logging
import re

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(text: str) -> str:
    """`text` with its control characters and line separators written as escapes."""
    return _UNSAFE.sub(_escaped, text)


class EscapeControlCharacters(logging.Filter):
    """Rewrites a record whose formatted message holds a control character; keeps them all."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _UNSAFE.search(message):
            record.msg, record.args = escape(message), None
        return True


_FILTER = EscapeControlCharacters()


def install(*loggers: logging.Logger) -> None:
    """Escape control characters in every record `loggers` create (once per logger)."""
    for logger in loggers:
        if not any(isinstance(f, EscapeControlCharacters) for f in logger.filters):
            logger.addFilter(_FILTER)
