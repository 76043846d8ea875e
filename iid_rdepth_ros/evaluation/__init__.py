"""Depth metrics (KITTI protocol), result tables and plots; numpy and matplotlib only."""
