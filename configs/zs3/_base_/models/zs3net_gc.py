# ZS3Net + GC (Bucher et al., NeurIPS 2019, section 3.3): the generative head
# that a `zs3net-gc_*` leaf merges into the generative_head of the ZS3Net leaf
# it inherits (the pixel GMMN, its MMD and num_samples stay as there):
#   model = dict(generative_head=_base_.zs3net_gc_head)
# GraphContextNeck: 2 graph convolutions 600 -> 256 -> 256 over the region
# graph of each training label map (nodes: 8-connected components of equal
# label; edges: 8-adjacent components), LeakyReLU 0.2, dropout 0.5, official
# form (no self-loops, no normalisation); context MMD between the generated
# and the real node features of each image; node classification loss 0.1.
# The graph is not used at test time.
zs3net_gc_head = dict(
    type='GMMNGCGenerativeHead',
    context_generator=dict(
        type='GraphContextNeck',
        in_channels=600,
        hidden_channels=256,
        out_channels=256,
        form='official'),
    context_loss=dict(
        type='MMDLoss',
        bandwidths=(2, 5, 10, 20, 40, 80),
        loss_name='loss_mmd_gc'),
    # the sane defaults: component-mean real node features, ignore regions
    # left out, node loss weighted 0.1 relative to the pixel loss, unseen
    # nodes substituted into the place of their nearest seen class
    node_feature='mean',
    context_mmd='image',
    ignore_regions='drop',
    background_index=0,
    node_loss_weight=0.1,
    node_loss_weighting='relative',
    unseen_substitution='nearest_seen',
    max_nodes=1024)
# the official code's choices (valeoai/ZS3 train_context_GMMN_GCNcontext.py),
# merged over zs3net_gc_head by the `zs3net-gc-paper_*` leaves: the feature
# at each component's first raster pixel, ignore regions as nodes with the
# background's embedding, the node loss not divided by the batch size
# (effective weight 0.8 with paper_batch_average and batch 8)
zs3net_gc_paper_head = dict(
    node_feature='first_pixel',
    ignore_regions='node',
    node_loss_weighting='official')
