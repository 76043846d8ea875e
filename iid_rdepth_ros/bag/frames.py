"""Pair the recorded messages of a bag into evaluation frames, and decode them.

A frame is one main image plus, matched by header stamp: its CameraInfo, optionally the
auxiliary (right) image and CameraInfo, and the ground truth (a depth image, or a LiDAR
PointCloud2 that :func:`ground_truth` projects into the camera with ``/tf_static``, and with
``/tf`` where the static transforms do not link the cloud's frame to the camera's:
:func:`read_transforms`). ``eval-bag`` and ``bag-export`` pair and project through these
functions only, so a frame scored by one is the frame the other writes.

Matching (:class:`FramePairer`, streaming, bounded memory): a partner is the message of that
topic whose stamp is nearest to the image's, within ``tolerance`` (camera topics) or
``gt_tolerance`` (ground truth; a LiDAR spinning at its own rate is rarely synchronised). A
partner is settled once a message past the tolerance window arrived, or ``window`` seconds of
log time went by. Then the frame is complete, or it is skipped with the reason counted. A
CameraInfo with another stamp is still used (the latest one seen) when none matches: intrinsics
do not change between frames. A missing aux view makes a mono frame, as in the node.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from iid_rdepth_ros.bag import messages as m

IMAGE_TYPES = (m.IMAGE,)
INFO_TYPES = (m.CAMERA_INFO,)
CLOUD_TYPES = (m.POINT_CLOUD2,)


@dataclass(frozen=True)
class TopicSpec:
    """Which topics hold what (names as recorded, e.g. ``/camera/left/image``)."""

    image: str
    camera_info: str
    aux_image: str | None = None
    aux_camera_info: str | None = None
    gt_depth: str | None = None
    gt_points: str | None = None
    tf_static: str = "/tf_static"
    tf: str = "/tf"

    def validate(self) -> None:
        """ValueError for an inconsistent choice of topics."""
        if (self.gt_depth is None) == (self.gt_points is None):
            raise ValueError("give exactly one ground truth: a depth-image topic or a "
                             "point-cloud topic")
        if (self.aux_image is None) != (self.aux_camera_info is None):
            raise ValueError("the aux view needs both its image and its camera_info topic")

    @property
    def roles(self) -> dict[str, str]:
        """Role -> topic of every topic in use (tf_static excluded)."""
        roles = {"image": self.image, "info": self.camera_info}
        if self.aux_image:
            roles["aux"] = self.aux_image
            roles["aux_info"] = str(self.aux_camera_info)
        roles["gt"] = str(self.gt_depth or self.gt_points)
        return roles

    def check(self, bag: Any) -> None:
        """BagError unless every topic is in ``bag`` with the right type and has messages."""
        self.validate()
        bag.require(self.image, IMAGE_TYPES, "image")
        bag.require(self.camera_info, INFO_TYPES, "camera_info")
        if self.aux_image:
            bag.require(self.aux_image, IMAGE_TYPES, "aux image")
            bag.require(str(self.aux_camera_info), INFO_TYPES, "aux camera_info")
        if self.gt_depth:
            bag.require(self.gt_depth, IMAGE_TYPES, "ground-truth depth")
        else:
            bag.require(str(self.gt_points), CLOUD_TYPES, "ground-truth points")
            if self.tf in bag.topics and self.tf_static not in bag.topics:
                bag.require(self.tf, (m.TF_MESSAGE,), "transforms")
            else:
                bag.require(self.tf_static, (m.TF_MESSAGE,), "static transforms")


@dataclass(frozen=True)
class TimeWindow:
    """Frames whose image stamp lies in ``[first + start_ns, first + end_ns)``, ``first`` being
    the header stamp of the bag's first image on the image topic (None: open end)."""

    start_ns: int | None = None
    end_ns: int | None = None

    @classmethod
    def seconds(cls, start: float | None, end: float | None) -> TimeWindow:
        """A window from offsets in seconds (ValueError unless 0 <= start < end)."""
        if start is not None and not start >= 0:
            raise ValueError(f"the window start must be >= 0 s, got {start}")
        if start is not None and end is not None and not end > start:
            raise ValueError(f"the window end ({end} s) must be after its start ({start} s)")
        if end is not None and not end > 0:
            raise ValueError(f"the window end must be > 0 s, got {end}")
        return cls(None if start is None else int(round(start * 1e9)),
                   None if end is None else int(round(end * 1e9)))

    @property
    def active(self) -> bool:
        return self.start_ns is not None or self.end_ns is not None

    def contains(self, stamp_ns: int, first_ns: int) -> bool:
        offset = stamp_ns - first_ns
        return ((self.start_ns is None or offset >= self.start_ns)
                and (self.end_ns is None or offset < self.end_ns))

    def describe(self) -> str:
        lo = "start" if self.start_ns is None else f"{self.start_ns / 1e9:g} s"
        hi = "end" if self.end_ns is None else f"{self.end_ns / 1e9:g} s"
        return f"[{lo}, {hi}) after the first image"


@dataclass
class BagFrame:
    """One paired frame (messages still encoded as recorded)."""

    index: int  # position of the main image in the bag (0-based)
    stamp: int  # header stamp of the main image (ns)
    image: Any
    info: Any
    gt: Any
    aux: Any | None = None
    aux_info: Any | None = None


@dataclass
class _Pending:
    index: int
    stamp: int
    logtime: int
    image: Any


@dataclass
class PairStats:
    """How the images of a bag were paired."""

    images: int = 0
    frames: int = 0
    mono: int = 0  # an aux view was asked for but none matched
    info_fallback: int = 0  # no camera_info with this stamp: the latest one was used
    skipped: Counter = field(default_factory=Counter)  # reason -> count

    def as_dict(self) -> dict[str, Any]:
        return {"images": self.images, "frames": self.frames, "mono_frames": self.mono,
                "camera_info_by_latest": self.info_fallback, "skipped": dict(self.skipped)}


class FramePairer:
    """Streams messages in, frames out (see module docstring). Feed with :meth:`add`, finish
    with :meth:`flush`; both return the frames completed, in image order."""

    def __init__(self, spec: TopicSpec, tolerance: float = 0.005, gt_tolerance: float = 0.05,
                 window: float = 2.0, keep: int = 64) -> None:
        self.spec = spec
        self.tol = {"info": tolerance, "aux": tolerance, "aux_info": tolerance,
                    "gt": gt_tolerance}
        self.tol = {k: int(round(v * 1e9)) for k, v in self.tol.items()}
        self.window = int(round(window * 1e9))
        self.partners = [r for r in spec.roles if r != "image"]
        self._by_topic: dict[str, list[str]] = {}
        for role, topic in spec.roles.items():
            self._by_topic.setdefault(topic, []).append(role)
        self.buffers: dict[str, deque[tuple[int, Any]]] = {
            r: deque(maxlen=keep) for r in self.partners}
        self.latest_info: Any = None
        self.pending: deque[_Pending] = deque()
        self.stats = PairStats()
        self.now = 0
        self.first_stamp: int | None = None  # header stamp of the first image seen

    def add(self, topic: str, logtime: int, msg: Any) -> list[BagFrame]:
        """Take one message (of a topic in the spec); returns frames that became complete."""
        self.now = max(self.now, logtime)
        for role in self._by_topic.get(topic, ()):
            if role == "image":
                stamp = m.stamp_ns(msg)
                if self.first_stamp is None:
                    self.first_stamp = stamp
                self.pending.append(_Pending(self.stats.images, stamp, logtime, msg))
                self.stats.images += 1
            else:
                self.buffers[role].append((m.stamp_ns(msg), msg))
                if role == "info":
                    self.latest_info = msg
        return self._release(final=False)

    def flush(self) -> list[BagFrame]:
        """Settle every pending image (end of the bag)."""
        return self._release(final=True)

    def _match(self, role: str, stamp: int, final: bool) -> tuple[bool, Any]:
        """(settled, message or None) of ``role`` for an image stamped ``stamp``."""
        tol = self.tol[role]
        best, best_dt, later = None, None, False
        for s, msg in self.buffers[role]:
            dt = abs(s - stamp)
            if dt <= tol and (best_dt is None or dt < best_dt):
                best, best_dt = msg, dt
            later = later or s > stamp + tol
        return (best_dt == 0 or later or final), best

    def _release(self, final: bool) -> list[BagFrame]:
        out: list[BagFrame] = []
        while self.pending:
            head = self.pending[0]
            expired = final or self.now - head.logtime > self.window
            found: dict[str, Any] = {}
            settled = True
            for role in self.partners:
                ok, msg = self._match(role, head.stamp, expired)
                settled &= ok
                found[role] = msg
            if not settled:
                break
            self.pending.popleft()
            frame = self._frame(head, found)
            if frame is not None:
                out.append(frame)
        self._prune()
        return out

    def _frame(self, head: _Pending, found: dict[str, Any]) -> BagFrame | None:
        info = found["info"]
        if info is None and self.latest_info is not None:
            info = self.latest_info
            self.stats.info_fallback += 1
        if info is None:
            self.stats.skipped["no camera_info yet"] += 1
            return None
        if found["gt"] is None:
            self.stats.skipped["no ground truth within tolerance"] += 1
            return None
        aux, aux_info = found.get("aux"), found.get("aux_info")
        if "aux" in self.partners and (aux is None or aux_info is None):
            self.stats.mono += 1
            aux = aux_info = None
        self.stats.frames += 1
        return BagFrame(index=head.index, stamp=head.stamp, image=head.image, info=info,
                        gt=found["gt"], aux=aux, aux_info=aux_info)

    def _prune(self) -> None:
        oldest = self.pending[0].stamp if self.pending else None
        for role, buf in self.buffers.items():
            keep_from = (oldest if oldest is not None else self._last_stamp(buf)) - self.tol[role]
            while len(buf) > 1 and buf[0][0] < keep_from:
                buf.popleft()

    @staticmethod
    def _last_stamp(buf: deque[tuple[int, Any]]) -> int:
        return buf[-1][0] if buf else 0


def iter_frames(bag: Any, spec: TopicSpec, pairer: FramePairer) -> Iterator[BagFrame]:
    """Paired frames of an open bag (topics checked first)."""
    spec.check(bag)
    topics = list(dict.fromkeys(spec.roles.values()))
    for topic, logtime, msg in bag.messages(topics):
        yield from pairer.add(topic, logtime, msg)
    yield from pairer.flush()


def read_tf_static(bag: Any, topic: str = "/tf_static") -> Any:
    """The static TF tree of a bag (empty when it has no such topic)."""
    from iid_rdepth_ros.bag.transforms import TfTree

    tree = TfTree()
    if topic in bag.topics:
        for _, _, msg in bag.messages([topic]):
            tree.add_message(msg)
    return tree


def _first_frame_id(bag: Any, topics: list[str]) -> str:
    """``header.frame_id`` of the first message of the first of ``topics`` that has one."""
    for topic in topics:
        if topic in bag.topics and bag.counts.get(topic):
            it = bag.messages([topic])
            try:
                _, _, msg = next(it)
            except StopIteration:
                continue
            finally:
                it.close()
            if msg.header.frame_id:
                return str(msg.header.frame_id)
    return ""


def read_transforms(bag: Any, spec: TopicSpec) -> Any:
    """The TF tree for projecting ``spec.gt_points``: ``/tf_static``, plus the ``/tf``
    samples when the static transforms do not link the cloud's frame to the camera's (as
    found in the first messages); see ``transforms`` for how ``/tf`` edges are evaluated."""
    tree = read_tf_static(bag, spec.tf_static)
    if spec.tf not in bag.topics:
        return tree
    camera = _first_frame_id(bag, [spec.image, spec.camera_info])
    cloud = _first_frame_id(bag, [str(spec.gt_points)])
    if camera and cloud and tree.connects(camera, cloud):
        return tree
    for _, _, msg in bag.messages([spec.tf]):
        tree.add_message(msg, dynamic=True)
    return tree


# -- decoding -----------------------------------------------------------------------------------
def decode_rgb(msg: Any) -> np.ndarray:
    """``(H, W, 3) uint8`` RGB of a camera Image (the node's own decoder)."""
    from iid_rdepth_ros.ros.image_codec import image_to_rgb

    return image_to_rgb(msg)


def decode_depth(msg: Any) -> np.ndarray:
    """A depth Image (``32FC1`` metres, or ``16UC1`` millimetres) as float32 metres, 0 = none."""
    if msg.encoding in ("16UC1", "mono16"):
        order = ">" if msg.is_bigendian else "<"
        rows = np.frombuffer(memoryview(msg.data), np.uint8).reshape(msg.height, msg.step)
        mm = rows[:, : 2 * msg.width].copy().view(np.dtype("u2").newbyteorder(order))
        depth = mm.astype(np.float32) / 1000.0
    else:
        from iid_rdepth_ros.ros.image_codec import image_to_array

        if msg.encoding != "32FC1":
            raise ValueError(f"depth image encoding {msg.encoding!r} is not 32FC1 or 16UC1")
        depth = np.array(image_to_array(msg), dtype=np.float32)
    depth[~(np.isfinite(depth) & (depth > 0))] = 0.0
    return depth


def camera_model(info: Any, hw: tuple[int, int]) -> tuple[Any, np.ndarray]:
    """(``Intrinsics`` at image size ``hw``, 3x4 projection ``P @ R`` at that size)."""
    from iid_rdepth_ros.bag.transforms import projection_matrix
    from iid_rdepth_ros.ros.camera_info import intrinsics_from_info

    intrinsics = intrinsics_from_info(info, hw)
    proj = projection_matrix(info.p, info.r)
    if not np.any(proj[:, :3]):  # P unset: use K
        proj = np.hstack([np.asarray(info.k, dtype=np.float64).reshape(3, 3), np.zeros((3, 1))])
    info_hw = (int(info.height), int(info.width))
    if info_hw[0] > 0 and info_hw[1] > 0 and info_hw != tuple(hw):
        # pixel-centre convention: u' = (u + 0.5) * s - 0.5
        sx, sy = hw[1] / info_hw[1], hw[0] / info_hw[0]
        scale = np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1.0]])
        proj = scale @ proj
    return intrinsics, proj


def ground_truth(frame: BagFrame, hw: tuple[int, int], tree: Any = None) -> np.ndarray:
    """Ground-truth depth ``(H, W)`` float32 metres (0 = none) of a frame at image size ``hw``.

    A depth image must have the image's size. A point cloud is moved into the camera frame
    (``tree.lookup(image frame, cloud frame)``, ``/tf`` edges at the image's stamp) and
    projected with the CameraInfo's P and R.
    """
    from iid_rdepth_ros.bag.transforms import project_points, transform_points

    if frame.gt.__msgtype__ == m.IMAGE:
        depth = decode_depth(frame.gt)
        if depth.shape != tuple(hw):
            raise ValueError(f"ground-truth depth is {depth.shape[1]}x{depth.shape[0]} but the "
                             f"image is {hw[1]}x{hw[0]}")
        return depth
    if tree is None:
        raise ValueError("projecting a point cloud needs the static TF tree")
    cam_frame = frame.image.header.frame_id or frame.info.header.frame_id
    t = tree.lookup(cam_frame, frame.gt.header.frame_id, stamp_ns=frame.stamp)
    _, proj = camera_model(frame.info, hw)
    return project_points(transform_points(t, m.cloud_points(frame.gt)), proj, hw)
