"""DDS settings that ship with the package (the Fast DDS profile for large images)."""

from __future__ import annotations

import sys
from pathlib import Path

PROFILE_NAME = "fastdds_large_images.xml"
#: config/fastdds_large_images.xml in the source tree or the installed share directory; "" if
#: neither is there
DEFAULT_FASTDDS_PROFILE = next(
    (str(p) for p in (Path(__file__).resolve().parents[2] / "config" / PROFILE_NAME,
                      Path(sys.prefix) / "share" / "iid_rdepth_ros" / "config" / PROFILE_NAME)
     if p.is_file()), "")
