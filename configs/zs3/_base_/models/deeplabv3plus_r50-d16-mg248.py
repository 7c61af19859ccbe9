_base_ = ['./deeplabv3plus_r101-d16-mg248.py']
model = dict(pretrained='open-mmlab://resnet50_v1c', backbone=dict(depth=50))
