"""`fit --gpu any`: the solver on every GPU of the catalogue, cheapest options first."""

from __future__ import annotations

import os

from kvcalc.errors import KvcalcError
from kvcalc.planning.fit import Fit, fit
from kvcalc.planning.gpus import CATALOGUE, Gpu
from kvcalc.values import value

SHOWN = 5


@value
class Option:
    """The fewest GPUs of one kind that hold the workload."""

    gpu: Gpu
    result: Fit

    @property
    def total_memory_bytes(self) -> int:
        return self.gpu.memory_bytes * self.result.report.parallelism.gpus


def any_gpu(
    model: str | os.PathLike[str], common: dict[str, object], shown: int = SHOWN
) -> tuple[list[Option], list[str]]:
    """The `shown` cheapest deployments over the catalogue, by GPU count then memory in all;
    and one line for each GPU kind that failed for another reason than not fitting."""
    from kvcalc.planning.estimation import load_model
    from kvcalc.sources.resolve import HubOptions

    hub = common.get("hub")
    loaded = load_model(model, hub if isinstance(hub, HubOptions) else None)
    if common.get("weights") is None and common.get("params") is None:
        from kvcalc.planning.fit_weights import resolve_weights

        found = resolve_weights(loaded.source, loaded.architecture,
                                dtype=str(common.get("weights_dtype") or "auto"),
                                hub=hub if isinstance(hub, HubOptions) else None)  # fmt: skip
        common = {**common, "weights": found.total_bytes, "weights_dtype": "auto"}
    options, failures = [], []
    for gpu in CATALOGUE:
        if gpu.arch == "apple":
            continue  # unified memory: not a data-centre deployment to solve over
        try:
            result = fit(loaded, gpu=gpu.name, **common)  # type: ignore[arg-type]
        except KvcalcError as error:
            failures.append(f"{gpu.name}: {error}")
            continue
        if result.report.fits:
            options.append(Option(gpu, result))
    options.sort(key=lambda option: (option.result.report.parallelism.gpus,
                                     option.total_memory_bytes, option.gpu.name))  # fmt: skip
    return options[:shown], list(dict.fromkeys(failures))[:3]
