"""Test-only: let accelerate run its FSDP path on CPU processes (gloo), for tests/test_finetune_multiprocess.py.

accelerate 1.15 sets up FSDP only for GPU process groups (`AcceleratorState.__init__` switches to FSDP when the
distributed type is MULTI_GPU and the like); on CPU it silently keeps MULTI_CPU, i.e. DDP. torch itself runs FSDP2
on CPU with gloo. Imported at start-up of every Python process whose PYTHONPATH names this folder; it acts only when
METAMATH_TEST_CPU_FSDP=1, and then changes nothing but that one gate: the plugin, the wrapping, the mixed-precision
policy, the state-dict gathering and the Trainer's FSDP branches are accelerate's and transformers' own.
"""
import os

if os.environ.get('METAMATH_TEST_CPU_FSDP') == '1':
    import accelerate.state as _state
    from accelerate.utils import DistributedType

    _init = _state.AcceleratorState.__init__

    def _init_with_cpu_fsdp(self, mixed_precision=None, cpu=False, dynamo_plugin=None, deepspeed_plugin=None,
                            fsdp_plugin=None, *args, **kwargs):
        _init(self, mixed_precision, cpu, dynamo_plugin, deepspeed_plugin, fsdp_plugin, *args, **kwargs)
        if fsdp_plugin is not None and self.distributed_type == DistributedType.MULTI_CPU:
            self.distributed_type = DistributedType.FSDP
            _state.PartialState._shared_state['distributed_type'] = DistributedType.FSDP
            if self._mixed_precision != 'no': fsdp_plugin.set_mixed_precision(self._mixed_precision)
            self.fsdp_plugin = fsdp_plugin

    _state.AcceleratorState.__init__ = _init_with_cpu_fsdp
