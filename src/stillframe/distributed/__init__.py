"""Snapshots of many videos, and of one long video, spread over processes or a
cluster.

    snapshot_many   one sf.snapshot a video: worker processes here, or a Dask cluster
    snapshot_split  one video's frames decoded on many workers, written here
    snapshot_one, decode_part
                    the plain task functions they run (any engine can call them)
    stillframe.distributed.ray
                    a Ray Data stage: rows of (video, times) in, frames out

Dask is needed only with a client (`pip install 'stillframe[dask]'`), Ray only for
the Ray module (`pip install 'stillframe[ray]'`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stillframe._lazy import lazy_names as _lazy_names

if TYPE_CHECKING:
    from stillframe.distributed._batch import BatchItem, input_name, snapshot_many, snapshot_one
    from stillframe.distributed._runners import default_processes
    from stillframe.distributed._split import Part, PartFrame, decode_part, keyframe_groups, snapshot_split

# Each public name is loaded from its module when first used: the command line
# builds `stillframe batch`'s parser from this package without the engine.
_WHERE = {
    "BatchItem": "stillframe.distributed._batch",
    "input_name": "stillframe.distributed._batch",
    "snapshot_many": "stillframe.distributed._batch",
    "snapshot_one": "stillframe.distributed._batch",
    "default_processes": "stillframe.distributed._runners",
    "Part": "stillframe.distributed._split",
    "PartFrame": "stillframe.distributed._split",
    "decode_part": "stillframe.distributed._split",
    "keyframe_groups": "stillframe.distributed._split",
    "snapshot_split": "stillframe.distributed._split",
}

__getattr__, __dir__ = _lazy_names(__name__, _WHERE)


__all__ = [
    "BatchItem",
    "Part",
    "PartFrame",
    "decode_part",
    "default_processes",
    "input_name",
    "keyframe_groups",
    "snapshot_many",
    "snapshot_one",
    "snapshot_split",
]
