"""Data, training and evaluation (installed as iid_rdepth_ros.training)."""
