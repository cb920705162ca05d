"""Qt-free module logic and tab widgets of the SlicerMedLabel module."""
