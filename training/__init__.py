"""Training: data building, synthetic letters, the multi-head model, trainer and ONNX export."""

import os

# OpenMP threads that spin while waiting starve when another process holds a core: with one busy process
# beside it, the quick profile trained 108 of 193 steps in 423 s (stopped by its budget); with passive
# waiting it trained all 193 in 212 s (2 cores). Set before torch is first imported; an explicit value wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
