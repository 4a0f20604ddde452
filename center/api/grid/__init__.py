"""The grid views: the district / town figures (网格监管) and an insurer's obligations (服务履约)."""
