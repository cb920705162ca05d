"""Auto-label Segment Editor effect (the effect class lives in SegmentEditorEffect.py)."""

from .SegmentEditorEffect import *  # noqa: F401,F403
