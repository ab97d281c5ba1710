"""wandb's ``Histogram``, ``Image`` and ``Table``, as Lernkurve records them (``record``): a
histogram as a ``distribution`` snapshot (the page's bands), an image as a PNG beside the
database and an ``image`` snapshot, a table as a ``table`` snapshot."""

from __future__ import annotations

from typing import Any

from lernkurve.tracking.wandbsurface.names import warn_once
from lernkurve.tracking.wandbsurface.png import png_size

# The percentiles the page draws as bands (lernkurve.tracking.gradhealth.QUANTILES).
QUANTILES = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)
MAX_BINS = 512


def _numbers(sequence: Any) -> Any:
    import numpy as np

    if hasattr(sequence, "detach"):
        sequence = sequence.detach().float().cpu().numpy()
    values = np.asarray(sequence, dtype=np.float64).ravel()
    return values[np.isfinite(values)]


def _quantiles_of_bins(counts: Any, edges: Any) -> list[float] | None:
    """The percentiles of a binned distribution, linear within each bin."""
    import numpy as np

    total = float(counts.sum())
    if total <= 0:
        return None
    cdf = np.cumsum(counts)
    out = []
    for q in QUANTILES:
        target = max(q * total, total * 1e-12)
        i = min(int(np.searchsorted(cdf, target, side="left")), len(counts) - 1)
        before = float(cdf[i - 1]) if i else 0.0
        part = (target - before) / counts[i] if counts[i] else 0.0
        out.append(float(edges[i] + min(max(part, 0.0), 1.0) * (edges[i + 1] - edges[i])))
    return out


class Histogram:
    """``wandb.Histogram(sequence)`` or ``wandb.Histogram(np_histogram=(counts, edges))``."""

    def __init__(self, sequence: Any = None, np_histogram: Any = None, num_bins: int = 64) -> None:
        import numpy as np

        if np_histogram is not None:
            counts, edges = (np.asarray(part, dtype=np.float64) for part in np_histogram)
            self.quantiles = _quantiles_of_bins(counts, edges)
        else:
            values = _numbers(sequence if sequence is not None else [])
            counts, edges = np.histogram(values, bins=max(1, min(int(num_bins), MAX_BINS)))
            self.quantiles = np.quantile(values, QUANTILES).tolist() if values.size else None
        self.counts, self.edges = counts.tolist(), edges.tolist()

    def payload(self, name: str) -> dict | None:
        """The ``distribution`` snapshot's payload, None for an empty histogram."""
        if self.quantiles is None:
            return None
        q, values = list(QUANTILES), self.quantiles
        return {
            "name": name,
            "kind": "histogram",
            "q": q,
            "values": values,
            "counts": self.counts,
            "edges": self.edges,
        }


class Image:
    """``wandb.Image(data, caption=)``: the picture is taken when the Image is made."""

    def __init__(
        self, data_or_path: Any, mode: str | None = None, caption: str | None = None, **ignored: Any
    ) -> None:
        from lernkurve.tracking.wandbsurface.pixels import png_bytes

        self.caption = None if caption is None else str(caption)[:1000]
        self.png: bytes | None = None
        try:
            self.png = png_bytes(data_or_path)
        except (ValueError, TypeError, OSError, ImportError) as err:
            warn_once(f"Image({type(data_or_path).__name__})", f"cannot be drawn ({err})")
        self.width, self.height = png_size(self.png or b"") or (0, 0)


class Table:
    """``wandb.Table(columns=, data=)`` (or ``dataframe=``), ``add_data``, ``add_column``."""

    def __init__(
        self,
        columns: list | None = None,
        data: list | None = None,
        rows: list | None = None,
        dataframe: Any = None,
        **ignored: Any,
    ) -> None:
        if dataframe is not None:
            columns = [str(c) for c in dataframe.columns]
            data = dataframe.values.tolist()
        rows = [list(row) for row in (data if data is not None else rows or [])]
        width = len(rows[0]) if rows else 0
        self.columns = list(columns) if columns is not None else [f"col{i}" for i in range(width)]
        self.data = rows

    def add_data(self, *row: Any) -> None:
        self.data.append(list(row))

    def add_column(self, name: str, data: list, optional: bool = False) -> None:
        self.columns.append(name)
        for row, value in zip(self.data, data, strict=False):
            row.append(value)

    def get_column(self, name: str, convert_to: str | None = None) -> list:
        index = self.columns.index(name)
        return [row[index] if index < len(row) else None for row in self.data]
