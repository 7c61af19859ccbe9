# mmseg's default runtime, plus the plugin and its runtime hooks (listed and
# explained in zs3_runtime_hooks.py, which the leaves that inherit an mmseg
# config, with its own runtime, use alone).
_base_ = ['mmseg::_base_/default_runtime.py', './zs3_runtime_hooks.py']
