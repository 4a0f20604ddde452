"""Service requests (服务需求): an enterprise asks, the park and its insurers answer."""
