"""pandas ``DataFrame`` ⇄ ``vtkMRMLTableNode``.

Numeric and boolean columns become typed VTK arrays (``vtkDoubleArray``, ``vtkIntArray``,
``vtkLongLongArray``, ``vtkBitArray`` → read back as bool ...), everything else a
``vtkStringArray``. Missing values: NaN in float columns stays NaN; missing strings become "".
Column units can be stored in the table's column properties (``unit``), the place Slicer's table
view and SegmentStatistics use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import vtk
from vtk.util import numpy_support

from ..errors import InputError
from .volumes import _scene

if TYPE_CHECKING:  # pandas is imported where used: Slicer does not ship it (installed on first use)
    import pandas as pd

__all__ = ["dataframe_to_table_node", "table_node_to_dataframe"]


def _column_to_vtk(name: str, series: pd.Series):
    values = series.to_numpy()
    kind = values.dtype.kind
    if kind == "b":
        arr = vtk.vtkBitArray()
        arr.SetNumberOfTuples(len(values))
        for i, v in enumerate(values):
            arr.SetValue(i, int(bool(v)))
    elif kind in "iuf":
        if kind == "f" and values.dtype != np.float64:
            values = values.astype(np.float64)
        if kind in "iu" and values.dtype.itemsize < 4:
            values = values.astype(np.int32)
        arr = numpy_support.numpy_to_vtk(np.ascontiguousarray(values), deep=True)
    else:
        arr = vtk.vtkStringArray()
        arr.SetNumberOfValues(len(values))
        for i, v in enumerate(values):
            arr.SetValue(i, "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    arr.SetName(str(name))
    return arr


def dataframe_to_table_node(df: pd.DataFrame, node=None, *, name: str | None = None,
                            units: dict[str, str] | None = None, descriptions: dict[str, str] | None = None):
    """Copy a DataFrame into a ``vtkMRMLTableNode`` (columns replaced, values deep-copied).

    Parameters
    ----------
    df : pandas.DataFrame
        Rows × columns; column names become VTK column names (str). A non-default index is kept as
        leading column(s) (``reset_index``).
    node : vtkMRMLTableNode, optional
        Node to fill; a new node is added to ``slicer.mrmlScene`` when omitted.
    name : str, optional
        Name of a new node (default "Table").
    units, descriptions : dict, optional
        Column name → unit label / description, stored as column properties.

    Returns
    -------
    vtkMRMLTableNode
    """
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise InputError(f"dataframe_to_table_node expects a pandas DataFrame; got {type(df).__name__}")
    if not isinstance(df.index, pd.RangeIndex) or df.index.name is not None:
        df = df.reset_index()
    names = [str(c) for c in df.columns]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise InputError(f"table columns must have unique names; duplicated: {', '.join(dup)}")
    if node is None:
        node = _scene().AddNewNodeByClass("vtkMRMLTableNode", name or "Table")
    elif name:
        node.SetName(name)
    node.RemoveAllColumns()
    table = node.GetTable()
    for col, cname in zip(df.columns, names, strict=True):
        table.AddColumn(_column_to_vtk(cname, df[col]))
    table.SetNumberOfRows(len(df))
    for col, text in (units or {}).items():
        node.SetColumnUnitLabel(str(col), text)
    for col, text in (descriptions or {}).items():
        node.SetColumnDescription(str(col), text)
    node.Modified()
    return node


def table_node_to_dataframe(node) -> pd.DataFrame:
    """Copy a ``vtkMRMLTableNode`` into a DataFrame (RangeIndex, one column per VTK column).

    Returns
    -------
    pandas.DataFrame
        Numeric columns keep their dtype (bit arrays → bool), string columns are ``object`` of str.
    """
    import pandas as pd

    if node is None or not node.IsA("vtkMRMLTableNode"):
        raise InputError(f"expected a table node; got {None if node is None else node.GetClassName()}")
    table = node.GetTable()
    data: dict[str, object] = {}
    for c in range(table.GetNumberOfColumns()):
        col = table.GetColumn(c)
        name = col.GetName() or f"column_{c}"
        if col.GetNumberOfComponents() != 1:
            raise InputError(f"table '{node.GetName()}' column '{name}' has {col.GetNumberOfComponents()} "
                             "components; only scalar columns convert to a DataFrame")
        n = col.GetNumberOfTuples()
        if col.IsA("vtkBitArray"):
            data[name] = np.array([bool(col.GetValue(i)) for i in range(n)], dtype=bool)
        elif col.IsA("vtkDataArray"):
            data[name] = numpy_support.vtk_to_numpy(col).copy()
        else:
            data[name] = np.array([str(col.GetValue(i)) for i in range(n)], dtype=object)
    return pd.DataFrame(data)
