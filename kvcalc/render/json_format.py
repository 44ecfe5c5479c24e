"""`--json`: one JSON object per estimate."""

from __future__ import annotations

import json
import sys

from kvcalc.planning.estimation import Estimate
from kvcalc.render.records import estimate_record


def render_json(estimate: Estimate) -> None:
    print(json.dumps(estimate_record(estimate), indent=2), file=sys.stdout)
