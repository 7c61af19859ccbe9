# ZS3Net stage 1, VOC12aug, K = 2 unseen classes
# (split 'zs3_voc', k=2, ZS3NET.md section 7): DeepLabV3+ ResNet-101 at
# output stride 16 trained on seen classes only; images containing an unseen
# pixel are dropped (policy='drop_image', the paper; set policy='ignore' for
# the peers' protocol). Recipe: crop 312, random scale 0.5-2.0, flip,
# batch 16, SGD lr 0.007 (10x on the head), poly 0.9, wd 5e-4, 200 epochs.
# Unlike the official network, mmseg's DeepLabV3+ has depthwise-separable
# ASPP/decoder convs, a 3x3 ASPP projection, no Dropout(0.5), a ResNetV1c
# stem and full-ImageNet weights; details in
# ../_base_/models/zs3_deeplabv3plus_r101-d16.py.
custom_imports = dict(imports=['mmseg_zs3'], allow_failed_imports=False)
_base_ = ['./_base_/zs3_stage1_voc12aug.py']
zs3_split = dict(name='zs3_voc', k=2)
train_dataloader = dict(dataset=dict(split=zs3_split))
val_evaluator = dict(split=zs3_split)
test_evaluator = val_evaluator
