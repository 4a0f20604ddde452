"""The 安责险 service loop (AQ 9010-2019): 片区, service organisations, plans, tasks, follow-ups."""
