"""The Python target: `generate` writes one script per flow from templates/flow.py.j2,
`layout` lays generated expressions out in black's style without running black."""
