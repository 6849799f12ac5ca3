"""Video-segmentation evaluation: the DAVIS J and F measures and ReasonVOS/MeViS scoring."""
