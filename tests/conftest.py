import os
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')
os.environ.setdefault('HF_DATASETS_OFFLINE', '1')
# Idle OpenMP threads sleep instead of spinning (as scripts/run_tests.py sets it): on a busy 2-core machine, spinning
# threads of one process take the cores that another (a vLLM server, a kernel, a second test) needs. Set before torch
# is imported, so that this pytest process and every process it starts read it.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
