"""Snapshot job configuration: our SnapshotConfig, and the services' dicts (MPS
`SnapshotConfig`, ICE snapshot templates, Huawei `thumbnail_para`) turned into it.

Units: MPS `Time` and ICE `SpecifiedOffsetTime` are milliseconds; every field of
SnapshotConfig is in seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from stillframe._deinterlace import check_mode
from stillframe.devices import parse_device
from stillframe.errors import InvalidParameter
from stillframe.options import FrameOptions
from stillframe.sampling import Dots, Interval, Quantity, Sampling, from_huawei, from_ice, from_mps
from stillframe.sprites import Sprite

__all__ = ["SnapshotConfig", "config_from"]

TYPES = ("Normal", "Sprite", "WebVtt")


def _sampling_to_dict(s: Sampling) -> dict[str, Any]:
    if isinstance(s, Interval):
        return {"kind": "interval", "every": s.every, "start": s.start, "count": s.count}
    if isinstance(s, Dots):
        return {"kind": "dots", "times": list(s.times)}
    return {"kind": "quantity", "count": s.count, "every": s.every}


def _sampling_from_dict(d: Mapping[str, Any]) -> Sampling:
    kind = d.get("kind")
    if kind == "interval":
        return Interval(d["every"], d.get("start", 0.0), d.get("count"))
    if kind == "dots":
        return Dots(d["times"])
    if kind == "quantity":
        return Quantity(d["count"], d.get("every"))
    raise InvalidParameter(f"unknown sampling kind {kind!r}")


@dataclass(frozen=True)
class SnapshotConfig:
    """What a snapshot job makes. `sampling` in seconds; `type` Normal (single
    pictures), Sprite (sheets) or WebVtt (a .vtt track, sheets when `is_spt_frag`)."""

    sampling: Sampling = field(default_factory=lambda: Dots([0.0]))
    frame_type: str = "normal"
    snap: str = "displayed"
    tolerance: float = 0.0  # seconds a keyframe may stand in for the exact frame (not a cloud field)
    width: int | None = None
    height: int | None = None
    max_length: int | None = None
    aspect_ratio: str = "keep"
    quality: int = 85
    type: str = "Normal"
    sprite: Sprite | None = None
    is_spt_frag: bool = False
    black_level: int | None = None
    pixel_black_threshold: int | None = None
    cover_position: int | None = None
    device: str = "cpu"  # where the job decodes (see stillframe.Video); not a cloud field
    fallback: bool = False
    deinterlace: bool | str = False  # "auto": frames flagged interlaced through bwdif; not a cloud field

    def __post_init__(self) -> None:
        object.__setattr__(self, "device", str(parse_device(self.device)))
        check_mode(self.deinterlace)
        if self.type not in TYPES:
            raise InvalidParameter(f"Type must be one of {TYPES}, not {self.type!r}")
        if self.frame_type not in ("normal", "intra"):
            raise InvalidParameter(f"FrameType must be normal or intra, not {self.frame_type!r}")
        for name in ("width", "height"):
            v = getattr(self, name)
            if v is not None and not 8 <= v <= 4096:
                raise InvalidParameter(f"{name.capitalize()} must be in 8..4096, not {v}")
        if not 1 <= self.quality <= 100:
            raise InvalidParameter(f"quality must be in 1..100, not {self.quality}")
        if self.type == "Sprite" and self.sprite is None:
            object.__setattr__(self, "sprite", Sprite())

    def frame_options(self) -> FrameOptions:
        """The job's frame options, as the engine takes them."""
        return FrameOptions(
            self.frame_type,
            self.snap,
            self.tolerance,
            self.width,
            self.height,
            self.max_length,
            self.aspect_ratio,
            self.deinterlace,
        )

    @property
    def synchronous(self) -> bool:
        """MPS: one snapshot and no Interval/Num runs synchronously."""
        return isinstance(self.sampling, Dots) and len(self.sampling.times) == 1 and self.type == "Normal"

    def to_dict(self) -> dict[str, Any]:
        """Plain values, as the store keeps them (from_dict reads them back)."""
        d = asdict(self)
        d["sampling"] = _sampling_to_dict(self.sampling)
        d["sprite"] = asdict(self.sprite) if self.sprite is not None else None
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SnapshotConfig:
        """The configuration to_dict gave."""
        data = dict(d)
        data["sampling"] = _sampling_from_dict(data["sampling"])
        if data.get("sprite") is not None:
            data["sprite"] = Sprite(**data["sprite"])
        return cls(**data)

    def with_type(self, type: str) -> SnapshotConfig:
        """The same configuration with another Type (Normal, Sprite, WebVtt)."""
        return replace(self, type=type)


def _int(d: Mapping[str, Any], key: str) -> int | None:
    v = d.get(key)
    if v is None or v == "":
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        raise InvalidParameter(f"{key} must be an integer, not {v!r}") from None


def _deinterlace(value: Any) -> bool | str:
    """A service dict's deinterlace key: "auto", or absent/"false"/"off" (False)."""
    if value is None or value is False or str(value).lower() in ("", "false", "off", "none"):
        return False
    if str(value).lower() == "auto":
        return "auto"
    raise InvalidParameter(f"Deinterlace must be 'auto' or 'false', not {value!r}")


def _tile(tile: Mapping[str, Any]) -> Sprite:
    keep = tile.get("IsKeepCellPic", True)
    return Sprite(
        columns=_int(tile, "Columns") or 10,
        lines=_int(tile, "Lines") or 10,
        cell_width=_int(tile, "CellWidth"),
        cell_height=_int(tile, "CellHeight"),
        margin=_int(tile, "Margin") or 0,
        padding=_int(tile, "Padding") or 0,
        color=str(tile.get("Color") or "black"),
        keep_cell_pic=str(keep).lower() != "false",
        cell_sel_step=_int(tile, "CellSelStep") or 1,
    )


def _pascal_config(
    c: Mapping[str, Any], sampling: Sampling, frame_type: str, kind: str, sprite: Sprite | None, spt: bool
) -> SnapshotConfig:
    """The fields MPS and ICE spell alike."""
    return SnapshotConfig(
        sampling=sampling,
        frame_type=str(c.get("FrameType") or frame_type).lower(),
        width=_int(c, "Width"),
        height=_int(c, "Height"),
        type=kind,
        sprite=sprite,
        is_spt_frag=spt,
        black_level=_int(c, "BlackLevel"),
        pixel_black_threshold=_int(c, "PixelBlackThreshold"),
        device=str(c.get("Device") or "cpu"),
        fallback=str(c.get("Fallback", "false")).lower() == "true",
        deinterlace=_deinterlace(c.get("Deinterlace")),
    )


def from_mps_config(c: Mapping[str, Any]) -> SnapshotConfig:
    """MPS SubmitSnapshotJob `SnapshotConfig` (PascalCase; Time in milliseconds).
    FrameType defaults to intra, as the MPS documentation says."""
    fmt = str(c.get("Format") or "jpg").lower()
    if fmt not in ("jpg", "vtt"):
        raise InvalidParameter(f"Format must be jpg or vtt, not {fmt!r}")
    tile = c.get("TileOut")
    sub = c.get("SubOut") or {}
    spt = str(sub.get("IsSptFrag", "false")).lower() == "true"
    sprite = _tile(tile) if isinstance(tile, Mapping) else None
    if fmt == "vtt":
        kind = "WebVtt"
        if spt and sprite is None:
            sprite = Sprite()
    else:
        kind = "Sprite" if sprite is not None else "Normal"
    return _pascal_config(c, from_mps(c), "intra", kind, sprite, spt)


def from_ice_config(c: Mapping[str, Any], type: str | None = None) -> SnapshotConfig:
    """ICE snapshot template config (`Type` Normal/Sprite/WebVtt, `SpecifiedOffsetTime`
    or `Time` in ms, `Count`, `Interval`, `Width`, `Height`, `FrameType`,
    `SpriteSnapshotConfig`, `BlackLevel`, `PixelBlackThreshold`, `IsSptFrag`)."""
    kind = type or str(c.get("Type") or "Normal")
    if kind not in TYPES:
        raise InvalidParameter(f"Type must be one of {TYPES}, not {kind!r}")
    sprite_cfg = c.get("SpriteSnapshotConfig")
    sprite = _tile(sprite_cfg) if isinstance(sprite_cfg, Mapping) else None
    spt = str(c.get("IsSptFrag", "false")).lower() == "true"
    if kind == "Sprite" and sprite is None:
        sprite = Sprite()
    if kind == "WebVtt" and spt and sprite is None:
        sprite = Sprite()
    return _pascal_config(c, from_ice(c), "normal", kind, sprite, spt)


def from_huawei_para(p: Mapping[str, Any]) -> SnapshotConfig:
    """Huawei `thumbnail_para`: type time/dots/quantity, max_length (default 480),
    aspect_ratio 0 (keep) or 1 (16:9), format 1 (jpg), cover_position (default 1)."""
    fmt = _int(p, "format")
    if fmt not in (None, 1):
        raise InvalidParameter(f"thumbnail_para.format must be 1 (jpg), not {fmt}")
    aspect = _int(p, "aspect_ratio") or 0
    if aspect not in (0, 1):
        raise InvalidParameter(f"thumbnail_para.aspect_ratio must be 0 or 1, not {aspect}")
    return SnapshotConfig(
        sampling=from_huawei(p),
        max_length=_int(p, "max_length") or 480,
        aspect_ratio="16:9" if aspect == 1 else "keep",
        cover_position=_int(p, "cover_position") or 1,
        device=str(p.get("device") or "cpu"),
        fallback=str(p.get("fallback", "false")).lower() == "true",
        deinterlace=_deinterlace(p.get("deinterlace")),
    )


def config_from(config: SnapshotConfig | Mapping[str, Any] | None) -> SnapshotConfig:
    """Our SnapshotConfig, or a service's dict told apart by its keys."""
    if config is None:
        return SnapshotConfig()
    if isinstance(config, SnapshotConfig):
        return config
    if not isinstance(config, Mapping):
        raise InvalidParameter(f"config must be a SnapshotConfig or a dict, not {type(config).__name__}")
    if "sampling" in config:
        return SnapshotConfig.from_dict(config)
    if "type" in config or "dots" in config or "quantity" in config or "max_length" in config:
        return from_huawei_para(config)
    if any(k in config for k in ("SpecifiedOffsetTime", "Count", "SpriteSnapshotConfig", "Type")):
        return from_ice_config(config)
    return from_mps_config(config)
