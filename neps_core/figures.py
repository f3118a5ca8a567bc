"""The figure class of the plots: a matplotlib ``Figure`` that a notebook shows inline.

The plots are built without pyplot (nothing global changes, no display needed), so a notebook
has no backend that renders them: the last expression of a cell showed only
``<Figure size 700x450 with 1 Axes>`` until ``%matplotlib inline`` ran. IPython shows any
object with ``_repr_png_`` as an image. Imported only when a plot is made (matplotlib is the
``plot`` extra).
"""

from __future__ import annotations

import io

from matplotlib.figure import Figure


class RunFigure(Figure):
    """A ``Figure`` that Jupyter and IPython display as a PNG."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png")
        return buffer.getvalue()
