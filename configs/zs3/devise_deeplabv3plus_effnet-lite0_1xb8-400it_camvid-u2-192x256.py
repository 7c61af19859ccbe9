# The DeViSE-style baseline of ZS3Net on CamVid, trained end to end on the
# seen-only (drop-image) data: the classifier projects the 128-d pixel
# features into the GloVe space and scores every class (unseen included) by
# cosine similarity; unseen scores are masked out of the training loss.
# Same network, data and budget as the seen-only config.
_base_ = [
    './seen-only_deeplabv3plus_effnet-lite0_1xb8-400it_camvid-u2-192x256.py'
]
class_embedding_file = 'data/class_embeddings/glove-6B-50d_camvid.npz'
model = dict(
    decode_head=dict(
        _delete_=True,
        type='ZeroShotDecodeHead',
        head={{_base_.model.decode_head}},
        classifier=dict(
            type='ProjectionClassifier',
            class_embedding=dict(
                type='ClassEmbedding',
                embedding_file=class_embedding_file,
                classes='CamVidDataset',
                dim=50),
            scale=10.0),
        split={{_base_.zs3_split}},
        classes='CamVidDataset',
        train_classes='seen'))
