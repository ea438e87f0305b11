"""Small helpers shared by every subpackage (atomic writes, hashing)."""
