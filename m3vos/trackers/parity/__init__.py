"""Parity with the official Cutie / ReVOS code (`m3vos dev replay`).

- `reference`: the reference format (schema `m3vos-parity-reference/1`), packing our step
  results into its npz layout, and the pass criterion (`compare_variant`); model-neutral;
- `cutie`, `revos`: build each family's network and run a variant's steps;
- `replay`: the command itself (`replay(...)`), above both families.

This package sits above the model packages, which never import it.
"""
