"""Multi-annotator review: STAPLE and voting consensus, agreement metrics, flags, workflow states.

Engine only (numpy/scipy/SimpleITK/pandas); no Slicer imports. See ``staple``, ``voting``,
``agreement``, ``flags``, ``workflow``, ``inputs``, ``simulate`` and ``report``.
"""
