# ZS3Net + GC stage 2 on the shapes demo (strict layout): ZS3Net's stage 2
# plus a graph-context generator (GMMNGCGenerativeHead: a GraphContextNeck
# over the region graph of each training label map), trained with a context
# MMD and a node classification loss (weight 0.1). Unseen nodes enter the
# graphs by substitution (an unseen class in the place of its nearest seen
# class), never from ground truth. The graphs come from label maps, which
# cached pixel features do not carry: the frozen network runs on every batch
# (mmengine's EpochBasedTrainLoop instead of ZS3FeatureCacheTrainLoop).
# For the context-rich variant of the data (benchmarks/bench_graph_context.py)
# point data_root at a dataset generated with --context-rich.
_base_ = ['./zs3net_unet-s2-fcn_1xb16-10e_shapes-u4-64x64.py']
# merged into the generative head of the inherited config, whose generator,
# pixel MMD loss and num_samples it keeps
model = dict(
    generative_head=dict(
        type='GMMNGCGenerativeHead',
        context_generator=dict(
            type='GraphContextNeck',
            in_channels=100,
            hidden_channels=256,
            out_channels=64,
            form='official'),
        context_loss=dict(
            type='MMDLoss',
            bandwidths=(2, 5, 10, 20, 40, 80),
            loss_name='loss_mmd_gc'),
        node_feature='mean',
        context_mmd='image',
        ignore_regions='drop',
        background_index=0,
        node_loss_weight=0.1,
        node_loss_weighting='relative',
        unseen_substitution='nearest_seen'))
train_cfg = dict(
    _delete_=True,
    type='EpochBasedTrainLoop',
    max_epochs={{_base_.max_epochs}},
    val_interval={{_base_.max_epochs}})
