"""Charts of the ledger's reports, as SVG or PNG bytes (for ``costcap report chart`` and the
dashboard)::

    from costcap.charts import by_feature_chart, spend_over_time_chart

    with Reports.open(url) as reports:
        rows = reports.over_time_by(by="feature", granularity="week")
        Path("spend.svg").write_bytes(spend_over_time_chart(rows, granularity="week", by="feature"))
        Path("features.png").write_bytes(by_feature_chart(reports.by_feature(), fmt="png"))

Drawn with matplotlib (``pip install 'costcap[dashboard]'``), imported on the first chart, not
with this package; each render is independent and may run in any thread.
"""

from __future__ import annotations

from costcap.charts._features import by_feature_chart
from costcap.charts._figure import EMPTY_TEXT, FORMATS, Format
from costcap.charts._over_time import spend_over_time_chart

__all__ = ["EMPTY_TEXT", "FORMATS", "Format", "by_feature_chart", "spend_over_time_chart"]
