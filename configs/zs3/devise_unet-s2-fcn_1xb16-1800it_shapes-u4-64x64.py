# The DeViSE-style baseline of ZS3Net on the shapes demo, trained end to end on
# seen classes: the classifier projects pixel features into the GloVe space and
# scores every class (unseen included) by cosine similarity.
_base_ = ['./seen-only_unet-s2-fcn_1xb16-1800it_shapes-u4-64x64.py']
model = dict(
    # the baseline as the paper trains it: its classifier is the embedding
    # projection already, without stage 1's embedding auxiliary head
    auxiliary_head=None,
    decode_head=dict(
        _delete_=True,
        type='ZeroShotDecodeHead',
        head={{_base_.model.decode_head}},
        # the projection of stage 1's embedding auxiliary head (GloVe 50-d,
        # cosine scores x10), here the network's classifier
        classifier={{_base_.model.auxiliary_head.classifier}},
        split={{_base_.zs3_split}},
        classes='ZS3ShapesDataset',
        train_classes='seen'))
# the schedule's weight decay, not stage 1's 0.1: DeViSE is better with it on
# the development seeds 11-14 (hIoU 28.2 / 31.8 / 36.7 / 24.4 against 17.4 /
# 30.4 / 30.7 / 7.1 with 0.1; see the seen-only config)
optim_wrapper = dict(optimizer=dict(weight_decay=0.01))
