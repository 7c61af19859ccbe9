# ZS3Net stage 1 on the shapes demo: a small U-Net (mmseg UNet + FCNHead)
# trained on seen classes only (images with unseen pixels dropped). Its unseen
# mIoU is 0 by construction: it never predicts an unseen class.
_base_ = [
    './_base_/models/unet-s2_fcn-tiny.py',
    './_base_/zs3_shapes_seen_only_data.py',
    './_base_/schedules/zs3_shapes_schedule.py',
    './_base_/zs3_runtime.py',
]
custom_imports = dict(imports=['mmseg_zs3'], allow_failed_imports=False)
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
class_embedding_file = 'data/zs3_shapes/class_embeddings_glove-6B-50d.npz'
# An embedding auxiliary head (mmseg's auxiliary_head: a training loss only,
# weight 0.4 as in mmseg's configs): the backbone's last decoder output
# (16-d, 32x32) must also predict each seen class's word embedding, DeViSE's
# cosine scores through a 1x1 projection, unseen classes masked out. A plain
# seen-class classifier needs shape only where a colour has several seen
# shapes, so whether its features carry shape in a form shared across colours
# is a draw of training; the embeddings (colour + shape words) ask for it, and
# the GMMN of stage 2 can then compose an unseen "blue triangle" from the seen
# blue and triangle classes. Chosen on development seeds 3-6, which the
# demo's reported seeds do not include: ZS3Net hIoU 71.7 / 38.7 / 45.7 / 63.4
# without it, 77.3 / 72.7 / 67.0 / 66.0 with it (the same head on the FCN
# head's 64-d features instead: 64.5 / 48.3 on seeds 3 / 4; a plain
# auxiliary FCN classifier, earlier: no gain). Stage 2 does not use it: the
# checkpoint's auxiliary_head.* tensors are left out when ZS3Net loads it
# (mmengine lists them as unexpected keys).
model = dict(
    auxiliary_head=dict(
        type='ZeroShotDecodeHead',
        # the decode head's FCN settings (input, classes, loss and its class
        # weights) without its convolution: the projection reads the
        # backbone output itself
        head=dict(
            _base_.model.decode_head,
            channels=16,
            num_convs=0,
            dropout_ratio=0.0,
            loss_decode=dict(
                _base_.model.decode_head.loss_decode, loss_weight=0.4)),
        classifier=dict(
            type='ProjectionClassifier',
            class_embedding=dict(
                type='ClassEmbedding',
                embedding_file=class_embedding_file,
                classes='ZS3ShapesDataset',
                dim=50),
            scale=10.0),
        split={{_base_.zs3_split}},
        classes='ZS3ShapesDataset',
        train_classes='seen'))
# Weight decay 0.1 (AdamW; the schedule's 0.01 otherwise). Our reading of
# why it helps (not measured): decay favours shape detectors shared across
# colours over one set per colour, and features whose shape code transfers
# to an unseen colour are what ZS3Net's classifier needs. Chosen on
# development seeds 11-14 (never reported): ZS3Net hIoU 63.4 / 78.4 / 64.0 /
# 58.6 with 0.01, 81.6 / 78.9 / 68.2 / 79.8 with 0.1 (a second auxiliary
# head on the 32-d decoder stage instead: 39.0 / 53.4 on seeds 11 / 12).
# The DeViSE baseline keeps 0.01, its better value (hIoU 28.2 / 31.8 / 36.7
# / 24.4 with 0.01, 17.4 / 30.4 / 30.7 / 7.1 with 0.1), as does the oracle
# (not tuned).
optim_wrapper = dict(optimizer=dict(weight_decay=0.1))
