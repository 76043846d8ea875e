"""Hostile inputs for the hardening tests: bags whose topics name crafted message types, and a
working directory holding packages that would leave a marker file if anything imported them."""

from __future__ import annotations

from pathlib import Path

import yaml

#: type names a crafted bag may record (the first is looked up as a package in the cwd, the
#: second would run unittest's command line if imported as ``unittest.__main__``)
EVIL_TYPE = "evilpkg/msg/X"
STDLIB_MAIN_TYPE = "unittest/__main__/X"
#: packages put into the hostile working directory; each writes MARKERS/<name> when imported
SHADOW_PACKAGES = ("evilpkg", "rosbags", "sensor_msgs", "std_msgs")
STRING = "std_msgs/msg/String"


def hostile_cwd(root: Path, markers: Path) -> Path:
    """``root`` holding the packages of SHADOW_PACKAGES (with a ``msg`` subpackage each)."""
    markers.mkdir(parents=True, exist_ok=True)
    for name in SHADOW_PACKAGES:
        pkg = root / name
        (pkg / "msg").mkdir(parents=True, exist_ok=True)
        code = f"open({str(markers / name)!r}, 'w').write('imported')\n"
        (pkg / "__init__.py").write_text(code)
        (pkg / "msg" / "__init__.py").write_text(code.replace("'imported'", "'msg imported'"))
    return root


def markers_written(markers: Path) -> list[str]:
    """Names of the shadow packages that were imported (their marker files exist)."""
    return sorted(p.name for p in markers.iterdir()) if markers.is_dir() else []


def copy_with_hostile_topics(src: Path | None, dst: Path, hostile: dict[str, str],
                             messages: int = 3) -> Path:
    """A copy of the bag ``src`` (or an empty one) as mcap at ``dst``, plus a ``/ok`` topic
    (``std_msgs/String``) when ``src`` is None, plus one topic per ``hostile`` entry (topic ->
    recorded type name) carrying ``messages`` String-shaped messages. Type names that rosbags
    itself cannot register (``unittest/__main__/X``) are written as ``.../msg/...`` and then
    renamed in ``metadata.yaml``, which is what readers take the topic types from."""
    from rosbags.highlevel import AnyReader
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    ts = get_typestore(Stores.ROS2_KILTED)
    renames: dict[str, str] = {}
    for msgtype in hostile.values():
        pkg, kind, name = msgtype.split("/")
        written = msgtype if kind == "msg" else f"{pkg}/msg/{name}"
        if written != msgtype:
            renames[written] = msgtype
        fields = next(iter(get_types_from_msg("string data", written).values()))
        ts.register({written: fields})
    payload = bytes(ts.serialize_cdr(ts.types[STRING](data="x"), STRING))
    with Writer(dst, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        t0 = 1_700_000_000_000_000_000
        if src is not None:
            with AnyReader([src]) as reader:
                conns = {c.id: writer.add_connection(
                    c.topic, c.msgtype, msgdef=c.msgdef.data, rihs01=c.digest,
                    offered_qos_profiles=c.ext.offered_qos_profiles)
                    for c in reader.connections}
                for c, ns, raw in reader.messages():
                    writer.write(conns[c.id], ns, raw)
                    t0 = min(t0, ns)
        else:
            ok = writer.add_connection("/ok", STRING, typestore=ts)
            for i in range(messages):
                writer.write(ok, t0 + i * 100_000_000, payload)
        for topic, msgtype in hostile.items():
            written = next((w for w, t in renames.items() if t == msgtype), msgtype)
            conn = writer.add_connection(topic, written, typestore=ts)
            for i in range(messages):
                writer.write(conn, t0 + i * 100_000_000 + 1, payload)
    if renames:
        meta_path = dst / "metadata.yaml"
        meta = yaml.safe_load(meta_path.read_text())
        for entry in meta["rosbag2_bagfile_information"]["topics_with_message_count"]:
            topic = entry["topic_metadata"]
            topic["type"] = renames.get(topic["type"], topic["type"])
        meta_path.write_text(yaml.safe_dump(meta, sort_keys=False))
    return dst
