# ZS3Net stage 1 on VOC12aug: seen-only DeepLabV3+ ResNet-101, output stride
# 16, trained with the paper's recipe (crop 312, random scale 0.5-2.0, flip,
# batch 16, SGD lr 0.007 with 10x on the head, poly 0.9, wd 5e-4, 200 epochs).
# Shared by configs/zs3/stage1/*voc12aug-k*; those set only the split's K.
# Differences from the official network: see
# models/zs3_deeplabv3plus_r101-d16.py.
custom_imports = dict(imports=['mmseg_zs3'], allow_failed_imports=False)
_base_ = [
    './models/zs3_deeplabv3plus_r101-d16.py',
    './datasets/zs3_voc12aug.py',
    './schedules/zs3_stage1_200e.py',
    './zs3_runtime.py',
]
crop_size = (312, 312)
model = dict(
    data_preprocessor=dict(size=crop_size), decode_head=dict(num_classes=21))
# Total batch 16 as in the paper; scale the lr if you change it.
auto_scale_lr = dict(enable=False, base_batch_size=16)
# The schedule is epoch-based (see schedules/zs3_stage1_200e.py).
log_processor = dict(by_epoch=True)
