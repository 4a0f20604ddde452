"""Detection: ONNX models through one adapter per output family, the manifest, pose, geometry,
and :class:`~edge.detect.detections.Detections`, the one type every stage passes along."""
