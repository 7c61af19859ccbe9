# The DeViSE-style baseline of ZS3Net (ZS3NET.md section 6), VOC12aug, K = 10
# (split 'zs3_voc', k=10): the stage-1 network and recipe of the same K
# (seen-only data, 200 epochs from ImageNet weights), with the final 1x1
# classifier replaced by a projection into the word2vec space; every class,
# unseen included, is scored by cosine similarity (times `scale`) with its
# embedding. Trained end to end on seen classes only (`train_classes='seen'`
# masks the unseen scores out of the loss); prediction is over all classes.
# The authors never released this baseline: the projection (1x1 conv to the
# embedding dimension), the cosine scale 10 and the cross-entropy over
# cosine scores are our choices (as SPNet's classifier).
# The embedding file and how to build it: see
# zs3net_deeplabv3plus_r101-d16-mg248_1xb8-30e_voc12aug-zs3k2-312x312.py.
# Shipped for K = 2 and K = 10, the two K with published baseline numbers.
_base_ = [
    './seen-only_deeplabv3plus_r101-d16-mg248_1xb16-200e_voc12aug-zs3k10-312x312.py'
]
model = dict(
    decode_head=dict(
        _delete_=True,
        type='ZeroShotDecodeHead',
        head={{_base_.model.decode_head}},
        classifier=dict(
            type='ProjectionClassifier',
            class_embedding=dict(
                type='ClassEmbedding',
                embedding_file='data/class_embeddings/word2vec_voc12.npz',
                classes='PascalVOCDataset',
                dim=300),
            scale=10.0),
        split={{_base_.zs3_split}},
        classes='PascalVOCDataset',
        train_classes='seen'))
