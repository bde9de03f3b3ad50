"""Layer similarity of base networks: linear CKA (cka.py, the math) and the +exp=similarity run (job.py)."""

# The record of a similarity run, written last: its presence means the run completed (a trained
# network's is result.json). Here, not in job.py, so that light modules (the sweep) can name it.
SIMILARITY_FILE = "similarity.json"
