"""Rules: each type says, frame by frame, whether its condition holds; the lifecycle does the rest.

One module per type, holding its config and its rule class (edge/rules/base.py: what they share);
edge/rules/registry.py lists them and builds a camera's rules, refusing what cannot run (a class
no loaded model provides, a type that needs tracks with tracking off). Field names and meanings:
docs/rules.md.
"""
