"""Training SegPIC with class-agnostic segmentation masks as privileged information.

  masks   where label maps come from (folders, COCO panoptic, cached generators)
  data    random crops of image + mask, validation crops
  loss    the rate-distortion objective and the lambda presets
  loop    optimisation, validation, checkpoints, exact resume
  config  named model sizes (small, paper)
  cli     ``python -m segpic train``

Inference code (segpic.models, segpic.codec) never imports this package.
"""
