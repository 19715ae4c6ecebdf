"""A class label as text, the same whatever dtype the table reader gave the column.

A column of whole numbers with one empty cell reads as floats (`8.0`); the same labels in a clean
table read as integers (`8`). Both must name the class `"8"`, or a model fitted on one table
refuses every row of the other.
"""

from __future__ import annotations

import numbers


def label_text(value) -> str:
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, numbers.Integral)):
        f = float(value)
        if f.is_integer():
            return str(int(f))
    return str(value)
