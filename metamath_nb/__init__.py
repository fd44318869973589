__version__ = "0.1.0"

# Before any of our modules imports bitsandbytes or tqdm: drop known log noise, and in a kernel run by
# `metamath-nb reproduce` (METAMATH_PROGRESS=text) draw text progress bars. See nbs/09a_console.ipynb.
from .console import quiet_known_noise as _quiet_known_noise, progress_from_env as _progress_from_env
_quiet_known_noise(); _progress_from_env()
