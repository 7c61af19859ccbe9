# Stage 1 on CamVid with the peers' data policy 'ignore' (SPNet, CaGNet,
# ZegCLIP): all 367 training images are kept and fence / bicyclist pixels
# become the ignore index (the class weights then need the ignore-safe
# IgnoreAwareCrossEntropyLoss of the model base). 3.7x the images of the
# drop-image rule, but the network sees the unseen objects' context as
# "no label". Otherwise as the drop-image config.
_base_ = [
    './seen-only_deeplabv3plus_effnet-lite0_1xb8-400it_camvid-u2-192x256.py'
]
train_dataloader = dict(dataset=dict(policy='ignore'))
