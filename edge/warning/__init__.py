"""On-site warnings (现场提醒): voice and light at the post when a rule's event starts."""
