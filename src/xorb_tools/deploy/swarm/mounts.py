"""The mounts of a swarm service (pure): tmpfs and shm as tmpfs mounts, read-only file binds as
swarm configs, file secrets as swarm secrets named by a hash of their content (swarm
secrets are immutable), each owned by the service's user."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from xorb_tools.deploy.swarm.spec import AdaptOptions, Notes, hashed, safe_name


def parse_bytes(value: object) -> int:
    """A compose size (``64m``, ``1g``, ``1048576``) in bytes."""
    text = str(value).strip().lower().removesuffix("b")
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(float(text))


def tmpfs_mount(service: str, spec: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``/tmp:size=64m`` -> (a tmpfs mount, None). Swarm mounts a tmpfs with the mode of the
    image's directory under it, owned by root, and takes no ``uid``/``gid``/``mode``; a tmpfs
    that needs an owner becomes a tmpfs-backed local volume: (its mount, the volume)."""
    target, _, options = spec.partition(":")
    pairs = [o.strip().partition("=") for o in options.split(",") if o.strip()]
    size = next((parse_bytes(v) for k, _, v in pairs if k == "size"), None)
    if not any(k in ("uid", "gid") for k, _, _ in pairs):
        # mode: the tmpfs gets the mode of the image's directory (1777 for /tmp)
        mount: dict[str, Any] = {"type": "tmpfs", "target": target}
        if size is not None:
            mount["tmpfs"] = {"size": size}
        return mount, None
    key = safe_name(f"{service}-tmpfs-{target.strip('/').replace('/', '-')}")
    opts = ",".join(f"{k}={v}" if sep else k for k, sep, v in pairs)
    volume = {"driver": "local", "driver_opts": {"type": "tmpfs", "device": "tmpfs", "o": opts}}
    return {"type": "volume", "source": key, "target": target}, {key: volume}


def escape(value: Any) -> Any:
    """Escape ``$`` in every string: the rendered values are final, stack deploy must not
    interpolate them a second time."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, list):
        return [escape(v) for v in value]
    if isinstance(value, dict):
        return {k: escape(v) for k, v in value.items()}
    return value


def drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_none(v) for v in value]
    return value


def _owner(user: str | None) -> tuple[str, str] | None:
    """``"999:999"`` / ``"1000"`` -> (uid, gid); None when not numeric."""
    if not user:
        return None
    uid, _, gid = user.partition(":")
    if not uid.isdigit() or (gid and not gid.isdigit()):
        return None
    return uid, gid or uid


def service_mounts(
    name: str,
    spec: Mapping[str, Any],
    out: dict[str, Any],
    options: AdaptOptions,
    configs: dict[str, Any],
    tmpfs_volumes: dict[str, Any],
    notes: Notes,
) -> None:
    """Volumes as swarm mounts: file binds -> configs, tmpfs/shm_size -> tmpfs mounts."""
    volumes: list[Any] = []
    refs = list(out.get("configs") or [])
    for volume in spec.get("volumes") or []:
        if not isinstance(volume, dict):
            volumes.append(volume)
            continue
        volume = {k: v for k, v in volume.items() if k != "bind"}
        source = Path(str(volume.get("source", "")))
        if volume.get("type") == "bind" and volume.get("read_only") and source.is_file():
            # A file each node needs: a swarm config (immutable, so named by its content).
            key = safe_name(f"{name}_{source.name}")
            configs[key] = hashed(key, {"file": str(source)}, options, "config")
            refs.append({"source": key, "target": str(volume["target"]), "mode": 0o444})
            continue
        if volume.get("type") == "bind" and not source.exists():
            # compose would create it empty; swarm refuses a task whose bind source is missing
            notes.add(name, f"bind mount {source} does not exist; dropped")
            continue
        if volume.get("type") == "bind":
            notes.add(name, f"{source} stays a bind mount: each node running it needs it")
        volumes.append(volume)
    for entry in spec.get("tmpfs") or []:
        mount, volume = tmpfs_mount(name, str(entry))
        volumes.append(mount)
        if volume:
            tmpfs_volumes.update(volume)
            notes.add(
                name,
                f"tmpfs {mount['target']} needs an owner, which swarm's tmpfs mounts lack: it "
                "is a tmpfs-backed local volume instead",
            )
    if spec.get("shm_size") is not None:
        shm = {"size": parse_bytes(spec["shm_size"])}
        volumes.append({"type": "tmpfs", "target": "/dev/shm", "tmpfs": shm})  # noqa: S108
    out.pop("volumes", None)
    if volumes:
        out["volumes"] = volumes
    if refs:
        out["configs"] = refs


def give_secrets(out: dict[str, Any], spec: Mapping[str, Any], options: AdaptOptions) -> None:
    """Each secret belongs to the user the service runs as, mode 0400 (swarm's default is
    root-owned 0444: compose's group 10001 needs ``group_add``, which swarm lacks)."""
    user = spec.get("user") or options.image_users.get(str(out.get("image", "")))
    owner = _owner(str(user) if user else None)
    secrets = []
    for entry in out.get("secrets") or []:
        item = {"source": entry} if isinstance(entry, str) else dict(entry)
        if owner:
            item.update(uid=owner[0], gid=owner[1], mode=0o400)
        secrets.append(item)
    if secrets:
        out["secrets"] = secrets
