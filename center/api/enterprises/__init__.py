"""The park's registry: towns, parks, enterprises, insurers, policies, service records."""
