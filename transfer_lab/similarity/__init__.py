"""Layer similarity of base networks: linear CKA (cka.py, the math) and the +exp=similarity run (job.py)."""
