"""Segment Editor effect package; Slicer loads SegmentEditorEffect.py through the hidden module."""

from .SegmentEditorEffect import SegmentEditorEffect  # noqa: F401
