"""Tracking: everything srbench keeps in MLflow. The store (every query and every retry), the names of runs,
tags and metrics, what a training run records, the sweeps it holds, and the Model Registry."""
