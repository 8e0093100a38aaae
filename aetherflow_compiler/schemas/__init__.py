"""The JSON Schemas of the input files (flow, profiles, scheduler), shipped as package data:
`aetherflow schema KIND` prints them, and the checks validate against them."""
