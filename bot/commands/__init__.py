"""Chat commands: subscribers manage their hashtags, admins run the bot. They read and write the store only.

`open_command_context` gives the commands their own store connection, `build_application` the
python-telegram-bot Application, and `CommandRunner` runs it in a background thread beside the scheduler.
"""

from __future__ import annotations

from bot.commands.application import build_application
from bot.commands.context import CommandContext, open_command_context
from bot.commands.runner import CommandRunner

__all__ = ["CommandContext", "CommandRunner", "build_application", "open_command_context"]
