"""Weight bytes of a hub repo from its safetensors headers, read with the real client."""

from __future__ import annotations

from kvcalc.errors import KvcalcError, SourceUnavailableError
from kvcalc.sources.hub import HubNotFoundError, HubUnavailableError
from kvcalc.sources.resolve import HubOptions
from kvcalc.sources.weights import NoWeightsError, Weights, stored_weights, tally


def hub_weights(repo_id: str, hub: HubOptions) -> Weights:
    """Sum of every tensor's stored bytes, from the headers only (a range request per file).

    `huggingface_hub.get_safetensors_metadata` reads model.safetensors, or the shards named by
    model.safetensors.index.json; no weights are downloaded.
    """
    from huggingface_hub import get_safetensors_metadata
    from huggingface_hub.utils.tqdm import disable_progress_bars

    where = f"{repo_id}@{hub.revision}" if hub.revision else repo_id
    try:
        with disable_progress_bars():  # a bar per shard on stderr would bury the notes
            metadata = get_safetensors_metadata(
                repo_id, revision=hub.revision, token=hub.token, timeout=hub.timeout
            )
    except Exception as error:
        raise weights_error(error, where) from error
    counts: dict[str, list[int]] = {}
    for filename, file_metadata in sorted(metadata.files_metadata.items()):
        tensors = {
            name: {"dtype": info.dtype, "shape": list(info.shape),
                   "data_offsets": list(info.data_offsets)}
            for name, info in file_metadata.tensors.items()
        }  # fmt: skip
        tally(f"{where}/{filename}", tensors, counts)
    return stored_weights("hub", where, counts)


def weights_error(error: Exception, where: str) -> SourceUnavailableError | NoWeightsError:
    """One line for a failure to read the headers; a repo without safetensors is no weights."""
    from huggingface_hub import constants, errors

    endpoint = constants.ENDPOINT
    # Most specific first: GatedRepoError is a RepositoryNotFoundError.
    table: list[tuple[type[Exception], type[KvcalcError], str]] = [
        (errors.NotASafetensorsRepoError, NoWeightsError,
         "no model.safetensors or model.safetensors.index.json"),
        (errors.SafetensorsParsingError, HubNotFoundError,
         f"unreadable safetensors header ({_first_line(error)})"),
        (errors.GatedRepoError, HubUnavailableError,
         "gated: accept its terms on the hub, then authenticate with HF_TOKEN, --token "
         "or `hf auth login`"),
        (errors.RevisionNotFoundError, HubNotFoundError, f"revision not found on {endpoint}"),
        (errors.RepositoryNotFoundError, HubNotFoundError, f"repository not found on {endpoint}"),
        (errors.OfflineModeIsEnabled, HubUnavailableError,
         "offline, so its safetensors headers cannot be read"),
        (errors.LocalEntryNotFoundError, HubUnavailableError,
         "offline, so its safetensors headers cannot be read"),
    ]  # fmt: skip
    for kind, ours, message in table:
        if isinstance(error, kind):
            found = ours(f"{where}: {message}")
            assert isinstance(found, (SourceUnavailableError, NoWeightsError))
            return found
    return HubUnavailableError(
        f"{where}: cannot read the safetensors headers from {endpoint} ({_first_line(error)})"
    )


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
