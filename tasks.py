"""XORB platform tasks (`uv run inv --list`). The logic lives in ``xorb_tools``."""

from xorb_tools.tasks import namespace

ns = namespace()
